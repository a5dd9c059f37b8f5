terraform {
  required_version = ">= 1.11"

  # Local state, one file an environment: make bootstrap ENV=<name> initialises with
  # -backend-config=path=state/<name>.tfstate (git-ignored, holds no secret; keep it).
  backend "local" {}

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.100.0"
    }
  }
}
