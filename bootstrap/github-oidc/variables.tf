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

variable "environment" {
  description = "Name of the environment (its folder envs/<name>) these roles serve; make bootstrap ENV=<name> passes it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.environment))
    error_message = "environment must be an environment's folder name under envs/: 2-32 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "account_id" {
  description = "The AWS account (12 digits) the roles live in; make bootstrap reads it from STS."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account ID."
  }
}

variable "project_name" {
  description = "The stack's project_name (envs/<name>/terraform.tfvars): the Project tag and the name space (/gitops/<project_name>/, gitops/<project_name>/) the roles are limited to."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name)) && !strcontains(var.project_name, "--")
    error_message = "project_name must be 3-32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "aws_region" {
  description = "Region of the stack (region in envs/<name>/environment.toml); every regional permission is limited to it."
  type        = string

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

variable "state_key" {
  description = "The environment's state object in the bucket (state_key in envs/<name>/environment.toml): the roles may read (apply and destroy also write) this object and its .tflock, nothing else of the bucket."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]*\\.tfstate$", var.state_key))
    error_message = "state_key must be an object key ending in .tfstate, such as seoul/terraform.tfstate."
  }
}

variable "apply_environment" {
  description = "GitHub environment (with required reviewers) whose jobs the apply role trusts: the reviewed apply and the manual destroy."
  type        = string

  validation {
    condition     = can(regex(local.github_environment_pattern, var.apply_environment))
    error_message = "apply_environment must be a GitHub environment name (letters, digits, dots, hyphens, underscores)."
  }
}

variable "nightly_environment" {
  description = "GitHub environment (main only, no reviewers) whose jobs the destroy-only role trusts: the unattended nightly destroy."
  type        = string

  validation {
    condition     = can(regex(local.github_environment_pattern, var.nightly_environment))
    error_message = "nightly_environment must be a GitHub environment name (letters, digits, dots, hyphens, underscores)."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of the account's token.actions.githubusercontent.com provider (bootstrap/account's output oidc_provider_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "role_name_prefix" {
  description = "Prefix of the pipeline's own role and policy names (role <prefix><project_name>-plan, ...)."
  type        = string
  default     = "gha-"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,20}$", var.role_name_prefix))
    error_message = "role_name_prefix must be 1-20 characters allowed in IAM role names."
  }
}

variable "role_variables" {
  description = "Role (plan, apply, destroy) => the repository variable that holds its ARN ([roles] in envs/<name>/environment.toml); the repository_variables output is keyed by them."
  type        = map(string)

  validation {
    condition     = length(keys(var.role_variables)) == 3 && length(setsubtract(keys(var.role_variables), ["plan", "apply", "destroy"])) == 0 && alltrue([for v in values(var.role_variables) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", v))])
    error_message = "role_variables must map plan, apply and destroy to repository variable names such as AWS_PLAN_ROLE_ARN."
  }
  validation {
    condition     = length(distinct(values(var.role_variables))) == 3 && !contains(values(var.role_variables), "TF_STATE_BUCKET")
    error_message = "role_variables must name three different variables, none of them TF_STATE_BUCKET."
  }
}
