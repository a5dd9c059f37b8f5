variable "bucket_name" {
  description = "Globally unique name of the state bucket, such as tfstate-123456789012-seoul."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "--")
    error_message = "bucket_name must be 3-63 characters of lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
  }
}

variable "aws_region" {
  description = "Region of the state bucket (the stack's region, so state stays near it)."
  type        = string
  default     = "ap-northeast-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as ap-northeast-2."
  }
}

variable "noncurrent_version_days" {
  description = "Days an overwritten state version is kept before S3 deletes it (every apply writes one)."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_days >= 7 && var.noncurrent_version_days <= 3650
    error_message = "noncurrent_version_days must be between 7 and 3650."
  }
}
