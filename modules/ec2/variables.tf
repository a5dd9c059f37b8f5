variable "name" {
  description = "Name prefix for the web tier's resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the web tier lives in."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC: the web tier may reach the database port only inside it."
  type        = string
}

variable "subnet_id" {
  description = "ID of the public subnet for the web instance."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type of the web server."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*[a-z]([a-z0-9-]*[a-z0-9])?$", var.instance_type))
    error_message = "instance_type must look like an EC2 instance type, family.size, such as t3.micro or c7i.metal-24xl."
  }
}

variable "ami_id" {
  description = "AMI of the web instance: the instance-base module's ami_id output, wired by the root."
  type        = string

  validation {
    condition     = can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "instance_profile" {
  description = "Name of the instance profile the web instance runs with: the instance-roles module's web_instance_profile output (made by `make bootstrap`, or by the root itself on an emulator), wired by the root. Its role may read only the stack's database secret."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.instance_profile))
    error_message = "instance_profile must be an IAM instance profile name (up to 128 letters, digits and +=,.@_-)."
  }
}

variable "key_name" {
  description = "Name of an existing EC2 key pair for SSH. Null: no key pair (use SSM Session Manager or none)."
  type        = string
  default     = null
}

variable "ssh_allowed_cidrs" {
  description = "CIDR blocks allowed to reach SSH (22). Empty opens nothing."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(cidrnetmask(c)) && !endswith(c, "/0")])
    error_message = "ssh_allowed_cidrs must hold valid IPv4 CIDR blocks and never one open to the whole internet (/0)."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of the encrypted root volume."
  type        = number
  default     = 8

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 100
    error_message = "root_volume_size must be between 8 and 100 GiB."
  }
}

variable "app_files" {
  description = "The app's files by name (app.py, requirements.txt, Dockerfile, compose.yaml, nginx.conf, schema.sql), written onto the instance by user data."
  type        = map(string)

  validation {
    condition     = alltrue([for n in keys(var.app_files) : can(regex("^[A-Za-z0-9._-]+$", n))])
    error_message = "app_files keys must be plain file names (letters, digits, dot, underscore, hyphen)."
  }
  validation {
    condition     = alltrue([for c in values(var.app_files) : !strcontains(c, "APP_FILE_END")])
    error_message = "app_files contents must not hold the line APP_FILE_END: user data writes each file as a here-document ending there."
  }
}

variable "region" {
  description = "AWS region the app reads its database secret from."
  type        = string
}

variable "db_host" {
  description = "Address of the database the app connects to (the db module's address output)."
  type        = string
}

variable "db_port" {
  description = "Port of the database."
  type        = number
  default     = 3306
}

variable "db_name" {
  description = "Name of the app's database."
  type        = string
}

variable "db_user" {
  description = "Database user of the app."
  type        = string
}

variable "db_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the database password (JSON with username and password). The instance role may read only this secret."
  type        = string
}

variable "db_secret_is_master" {
  description = "True when db_secret_arn holds the database's master credentials (rds mode): the boot script then creates db_user, with rights on db_name only, and gives the app that user alone."
  type        = bool
  default     = false
}

variable "detailed_monitoring" {
  description = "Enable 1-minute CloudWatch detailed monitoring on the instance. Turn off only where the API lacks it (LocalStack)."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
