# The S3 bucket that holds the environments' Terraform state, created once per AWS account
# before anything else (docs/SECURITY.md, "The state bucket"). Its own state stays local:
#   terraform init && terraform apply -var bucket_name=tfstate-<account>-<region> (make bootstrap does it)
# That state holds no secret; keep it, or import the bucket again to change it later.
# Locking needs no table: the backends use S3's lock file (use_lockfile = true).

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Purpose   = "terraform-state"
      ManagedBy = "terraform"
    }
  }
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a second bucket; CloudTrail records who read or wrote the state, and versioning keeps every write.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles a bucket of a few kilobytes; versioning already keeps every state ever written, in a region the stack itself depends on.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of this bucket; Terraform is its only writer.
  bucket = var.bucket_name

  tags = { Name = var.bucket_name }

  lifecycle {
    prevent_destroy = true # every environment's state lives here
    # Tags an owner adds by hand (cost allocation, an organisation's tag policy) stay on a
    # re-run: make bootstrap applies again after every change, and never takes them off.
    ignore_changes = [tags]
  }
}

# Every write of the state is kept: a bad apply or a corrupted state can be rolled back.
resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Encrypted at rest with KMS (the account's AWS-managed key for S3); bucket keys keep the KMS
# request count, and so the cost, down.
resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket = aws_s3_bucket.state.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced" # no ACLs at all
  }
}

data "aws_iam_policy_document" "state" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.state.arn,
      "${aws_s3_bucket.state.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state.json

  depends_on = [aws_s3_bucket_public_access_block.state]
}

# Old state versions and unfinished uploads do not pile up for ever. (On LocalStack the
# provider waits about a minute for this configuration to read back as written; on AWS, seconds.)
resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}
