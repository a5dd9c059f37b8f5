variable "ami_id" {
  description = "AMI the instances boot, pinned by the root. Null: the region's current image, from ami_ssm_parameter."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be null or an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "ami_ssm_parameter" {
  description = "SSM public parameter that names the region's current AMI, read when ami_id is null."
  type        = string
  default     = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

  validation {
    condition     = startswith(var.ami_ssm_parameter, "/")
    error_message = "ami_ssm_parameter must be an SSM parameter path such as /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64."
  }
}
