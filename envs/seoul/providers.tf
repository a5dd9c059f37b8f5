terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}

# No credentials in code: GitHub Actions assumes a role through OIDC; on a laptop set
# AWS_PROFILE (or var.aws_profile) to a named profile.
provider "aws" {
  region              = local.validated_inputs.aws_region # after every input is valid
  profile             = var.aws_profile
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null

  default_tags {
    tags = {
      Project     = var.project_name
      Environment = "seoul"
      ManagedBy   = "terraform"
      Repository  = var.repository
    }
  }
}
