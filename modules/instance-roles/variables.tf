variable "project_name" {
  description = "The stack's project_name: every name below is derived from it."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name)) && !strcontains(var.project_name, "--")
    error_message = "project_name must be 3-32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "region" {
  description = "Region of the stack (the database and the secrets the roles may read are there)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as ap-northeast-2."
  }
}

variable "account_id" {
  description = "AWS account of the stack (12 digits): the ARNs in the roles' policies name it."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account ID."
  }
}

variable "create_roles" {
  description = "Create the roles and instance profiles. False in a root whose roles `make bootstrap` made with the operator's credentials (the pipeline then only passes them to EC2); the outputs name them either way."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every role and instance profile."
  type        = map(string)
  default     = {}
}
