variable "repository" {
  description = "GitHub repository the workflows run in, as OWNER/NAME (your own repository, not a fork)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.repository))
    error_message = "repository must be OWNER/NAME, such as octocat/gitops-seoul."
  }
}

variable "subject_format" {
  description = "Form of the OIDC sub claim GitHub issues for this repository: id (repo:OWNER@OWNER_ID/NAME@REPO_ID:..., repositories created or renamed from 2026-07-15, or opted in) or name (repo:OWNER/NAME:...)."
  type        = string
  default     = "id"

  validation {
    condition     = contains(["id", "name"], var.subject_format)
    error_message = "subject_format must be id or name."
  }
}

variable "github_owner_id" {
  description = "Numeric ID of the repository's owner (gh api repos/OWNER/NAME --jq .owner.id); needed when subject_format is id."
  type        = number
  default     = null

  validation {
    condition     = var.github_owner_id == null || try(var.github_owner_id > 0 && floor(var.github_owner_id) == var.github_owner_id, false)
    error_message = "github_owner_id must be a positive whole number (GitHub's numeric ID of the owner)."
  }
}

variable "github_repository_id" {
  description = "Numeric ID of the repository (gh api repos/OWNER/NAME --jq .id); needed when subject_format is id."
  type        = number
  default     = null

  validation {
    condition     = var.github_repository_id == null || try(var.github_repository_id > 0 && floor(var.github_repository_id) == var.github_repository_id, false)
    error_message = "github_repository_id must be a positive whole number (GitHub's numeric ID of the repository)."
  }
}

variable "project_name" {
  description = "The stack's project_name (envs/seoul/terraform.tfvars): the name prefix and the Project tag the roles are limited to."
  type        = string
  default     = "study-seoul"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name)) && !strcontains(var.project_name, "--")
    error_message = "project_name must be 3-32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "aws_region" {
  description = "Region of the stack; every regional permission is limited to it."
  type        = string
  default     = "ap-northeast-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as ap-northeast-2."
  }
}

variable "state_bucket" {
  description = "Name of the state bucket (output bucket of bootstrap/state-bucket)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "state_key_prefix" {
  description = "Prefix of the stack's state objects in the bucket: the roles may read (and apply/destroy write) only keys under it. TF_STATE_KEY must start with it."
  type        = string
  default     = "seoul/"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*/$", var.state_key_prefix))
    error_message = "state_key_prefix must be a key prefix ending in a slash, such as seoul/."
  }
}

variable "apply_environment" {
  description = "GitHub environment (with required reviewers) whose jobs the apply role trusts: the reviewed apply and the manual destroy."
  type        = string
  default     = "seoul"

  validation {
    condition     = can(regex(local.github_environment_pattern, var.apply_environment))
    error_message = "apply_environment must be a GitHub environment name (letters, digits, dots, hyphens, underscores)."
  }
}

variable "nightly_environment" {
  description = "GitHub environment (main only, no reviewers) whose jobs the destroy-only role trusts: the unattended nightly destroy."
  type        = string
  default     = "seoul-nightly"

  validation {
    condition     = can(regex(local.github_environment_pattern, var.nightly_environment))
    error_message = "nightly_environment must be a GitHub environment name (letters, digits, dots, hyphens, underscores)."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com provider in the account, to reuse it; empty creates one (an account holds one provider per URL). make bootstrap fills it in when one exists."
  type        = string
  default     = ""

  validation {
    condition     = var.oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "role_name_prefix" {
  description = "Prefix of the pipeline's own role and policy names. It must not start with project_name: the apply role may manage project_name-* roles, never its own."
  type        = string
  default     = "gha-"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,20}$", var.role_name_prefix))
    error_message = "role_name_prefix must be 1-20 characters allowed in IAM role names."
  }
}
