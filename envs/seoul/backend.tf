# Remote state in S3 with S3-native locking (use_lockfile; DynamoDB locking is deprecated).
# Bucket and key come from partial configuration at init time, so no account-specific name
# is committed:
#   terraform init -backend-config="bucket=$TF_STATE_BUCKET" -backend-config="key=seoul/terraform.tfstate"
# (`make plan ENV=seoul` does this from the TF_STATE_BUCKET and TF_STATE_KEY variables).
#
# No `encrypt` here on purpose: `encrypt = true` without `kms_key_id` asks S3 for SSE-S3 (AES256)
# on every state and lock write, overriding the bucket's default encryption. Left out, each
# object takes the bucket's default: SSE-KMS with the AWS-managed key when the bucket comes from
# bootstrap/state-bucket (docs/SECURITY.md, "The state bucket"). A customer key would be
# `kms_key_id`, an account-specific ARN given at init like the bucket name.
terraform {
  backend "s3" {
    region       = "ap-northeast-2"
    use_lockfile = true
  }
}
