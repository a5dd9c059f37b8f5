terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

# LocalStack only: fake credentials and an explicit endpoint for every service the stack
# uses, so nothing this root does can ever reach real AWS.
provider "aws" {
  region                      = local.validated_inputs.aws_region # after every input is valid
  access_key                  = "test"
  secret_key                  = "test" # LocalStack's documented dummy credential, not a secret
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    ec2            = var.localstack_endpoint
    iam            = var.localstack_endpoint
    s3             = var.localstack_endpoint
    secretsmanager = var.localstack_endpoint
    ssm            = var.localstack_endpoint
    sts            = var.localstack_endpoint
  }

  default_tags {
    tags = {
      Project     = var.project_name
      Environment = "localstack"
      ManagedBy   = "terraform"
    }
  }
}
