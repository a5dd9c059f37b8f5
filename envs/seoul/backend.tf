# Remote state in S3 with S3-native locking (use_lockfile; DynamoDB locking is deprecated).
# Bucket and key come from partial configuration at init time, so no account-specific name
# is committed:
#   terraform init -backend-config="bucket=$TF_STATE_BUCKET" -backend-config="key=seoul/terraform.tfstate"
# (`make plan ENV=seoul` does this from the TF_STATE_BUCKET and TF_STATE_KEY variables).
terraform {
  backend "s3" {
    region       = "ap-northeast-2"
    encrypt      = true
    use_lockfile = true
  }
}
