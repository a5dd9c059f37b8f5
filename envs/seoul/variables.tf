variable "aws_profile" {
  description = "Named AWS CLI profile for a laptop run. Null (the default, and in CI): the standard credential chain, e.g. OIDC role credentials."
  type        = string
  default     = null
}

variable "allowed_account_ids" {
  description = "AWS account IDs this root may touch; a run against any other account fails before changing anything. Empty: no check."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "allowed_account_ids must hold 12-digit AWS account IDs."
  }
}

variable "repository" {
  description = "Repository that manages this stack, written into the default tags."
  type        = string
  default     = "unknown"
}
