terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.88.0: secret_string_wo (write-only); also past engine_lifecycle_support (5.59.0) and
      # the ephemeral aws_secretsmanager_random_password (between them).
      version = ">= 5.88.0"
    }
  }
}
