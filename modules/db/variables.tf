variable "name" {
  description = "Name prefix for the database tier's resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-32 characters of lowercase letters, digits and single hyphens, starting with a letter: the RDS identifier <name>-db allows no two hyphens in a row."
  }
}

variable "mode" {
  description = "How the database runs: \"rds\" (managed MySQL) or \"ec2\" (MySQL-compatible server on an instance, the shape an emulator without RDS can run)."
  type        = string
  default     = "rds"

  validation {
    condition     = contains(["rds", "ec2"], var.mode)
    error_message = "mode must be \"rds\" or \"ec2\"."
  }
  validation {
    condition     = var.mode != "ec2" || var.private_subnet_egress
    error_message = "mode \"ec2\" needs a way out of the private subnets: the database's setup script installs MariaDB with dnf and reads its password from Secrets Manager, and without a NAT gateway the private subnets reach neither. Set enable_nat_gateway = true (billed hourly), or use db_mode \"rds\"."
  }
}

variable "private_subnet_egress" {
  description = "Whether the ec2-mode setup script can reach the package repositories and Secrets Manager from the private subnets: true with a NAT gateway, or where no user data runs at all (an emulator, whose MySQL is a local stand-in). ec2 mode is refused when false."
  type        = bool
  default     = false
}

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
}

variable "subnet_ids" {
  description = "IDs of the private subnets the database may use (two or more availability zones for RDS)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must name at least two private subnets: an RDS subnet group spans two availability zones."
  }
}

variable "allowed_security_group_id" {
  description = "Security group (the web tier's) that may reach the database port. Nothing else may."
  type        = string
}

variable "region" {
  description = "AWS region, for the ec2-mode setup script that reads the password secret."
  type        = string
}

variable "db_name" {
  description = "Name of the app's database."
  type        = string
  default     = "app"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,63}$", var.db_name))
    error_message = "db_name must start with a letter and hold at most 64 letters, digits or underscores."
  }
}

variable "db_username" {
  description = "Database user of the app, with rights on db_name only."
  type        = string
  default     = "app"

  validation {
    condition     = can(regex(local.mysql_user_pattern, var.db_username)) && !contains(local.mysql_reserved_users, lower(var.db_username))
    error_message = "db_username must start with a letter, hold at most 16 letters, digits or underscores, and not be a reserved name (${join(", ", local.mysql_reserved_users)})."
  }
}

variable "master_username" {
  description = "RDS master user (rds mode). The app never logs in as it: the web tier's boot creates db_username from it once."
  type        = string
  default     = "dbadmin"

  validation {
    condition     = can(regex(local.mysql_user_pattern, var.master_username)) && !contains(local.mysql_reserved_users, lower(var.master_username))
    error_message = "master_username must start with a letter, hold at most 16 letters, digits or underscores (RDS's rule), and not be a reserved name (${join(", ", local.mysql_reserved_users)})."
  }
}

variable "port" {
  description = "TCP port of the database."
  type        = number
  default     = 3306

  validation {
    condition     = var.port >= 1024 && var.port <= 65535
    error_message = "port must be between 1024 and 65535."
  }
}

variable "schema_sql" {
  description = "The app's schema (CREATE TABLE IF NOT EXISTS ...), applied by the ec2-mode setup script. On RDS the app applies the same file at start."
  type        = string
}

variable "rds_instance_class" {
  description = "RDS instance class (rds mode)."
  type        = string
  default     = "db.t3.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.rds_instance_class))
    error_message = "rds_instance_class must look like db.family.size, such as db.t3.micro."
  }
}

variable "rds_engine_version" {
  description = "MySQL engine version (rds mode): a major version such as 8.4 (RDS picks the current minor and upgrades it) or a full one such as 8.4.7. Its major version must be in mysql_support.json and inside RDS standard support."
  type        = string
  default     = "8.4"
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+(\\.[0-9]+)?$", var.rds_engine_version))
    error_message = "rds_engine_version must be a MySQL version such as 8.4 or 8.4.7."
  }
  validation {
    condition     = !can(regex("^[0-9]+\\.[0-9]+", var.rds_engine_version)) || try(contains(keys(local.mysql_standard_support_end), join(".", slice(split(".", var.rds_engine_version), 0, 2))), false)
    error_message = "rds_engine_version ${var.rds_engine_version}: its major version is not in modules/db/mysql_support.json; add it with the end of RDS standard support from the RDS for MySQL release calendar."
  }
  # Past the end of standard support RDS would enrol a new instance in paid Extended Support;
  # engine_lifecycle_support refuses that at apply, this refuses it at plan, with the date.
  validation {
    condition     = try(timecmp(plantimestamp(), "${local.mysql_standard_support_end[join(".", slice(split(".", var.rds_engine_version), 0, 2))]}T00:00:00Z") < 0, true)
    error_message = "rds_engine_version ${var.rds_engine_version}: RDS standard support for MySQL ${try(join(".", slice(split(".", var.rds_engine_version), 0, 2)), "?")} ended on ${try(local.mysql_standard_support_end[join(".", slice(split(".", var.rds_engine_version), 0, 2))], "?")} (modules/db/mysql_support.json); a new instance would be billed for RDS Extended Support. Use a major version still in standard support, such as 8.4."
  }
}

variable "rds_slow_query_seconds" {
  description = "Queries slower than this many seconds go to the slow query log, exported to CloudWatch (rds mode)."
  type        = number
  default     = 2

  validation {
    condition     = var.rds_slow_query_seconds >= 0 && var.rds_slow_query_seconds <= 3600
    error_message = "rds_slow_query_seconds must be between 0 and 3600."
  }
}

variable "rds_log_retention_days" {
  description = "Days CloudWatch keeps the exported error and slow query logs (rds mode)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.rds_log_retention_days)
    error_message = "rds_log_retention_days must be one of the retentions CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "rds_allocated_storage" {
  description = "Allocated storage in GiB (rds mode)."
  type        = number
  default     = 20

  validation {
    condition     = var.rds_allocated_storage >= 20 && var.rds_allocated_storage <= 1000
    error_message = "rds_allocated_storage must be between 20 and 1000 GiB."
  }
}

variable "rds_multi_az" {
  description = "Run RDS with a standby in a second zone (rds mode). Off by default: it doubles the cost of a stack destroyed nightly."
  type        = bool
  default     = false
}

variable "rds_deletion_protection" {
  description = "Refuse to delete the RDS instance (rds mode). Off by default so the nightly destroy can remove it."
  type        = bool
  default     = false
}

variable "rds_backup_retention_days" {
  description = "Days of automated backups (rds mode)."
  type        = number
  default     = 1

  validation {
    condition     = var.rds_backup_retention_days >= 0 && var.rds_backup_retention_days <= 35
    error_message = "rds_backup_retention_days must be between 0 and 35."
  }
}

variable "ec2_instance_type" {
  description = "Instance type of the database server (ec2 mode)."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*[a-z]([a-z0-9-]*[a-z0-9])?$", var.ec2_instance_type))
    error_message = "ec2_instance_type must look like an EC2 instance type, family.size, such as t3.micro or c7i.metal-24xl."
  }
}

variable "ec2_private_ip" {
  description = "Fixed private IP of the database server (ec2 mode; required there), inside the first of subnet_ids. Known before apply, so the web tier does not wait for the instance, and a replaced database keeps its address."
  type        = string
  default     = null

  validation {
    condition     = var.ec2_private_ip == null || can(cidrhost("${coalesce(var.ec2_private_ip, "x")}/32", 0))
    error_message = "ec2_private_ip must be an IPv4 address such as 10.0.11.10."
  }
  validation {
    condition     = var.mode != "ec2" || var.ec2_private_ip != null
    error_message = "ec2_private_ip is required when mode is \"ec2\"."
  }
}

variable "ami_id" {
  description = "AMI of the database server (ec2 mode; required there): the instance-base module's ami_id output, wired by the root."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
  validation {
    condition     = var.mode != "ec2" || var.ami_id != null
    error_message = "ami_id is required when mode is \"ec2\"."
  }
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

variable "instance_profile" {
  description = "Name of the instance profile of the database server (ec2 mode; required there): the instance-roles module's db_instance_profile output, wired by the root."
  type        = string
  default     = null

  validation {
    condition     = var.instance_profile == null || can(regex("^[A-Za-z0-9+=,.@_-]{1,128}$", var.instance_profile))
    error_message = "instance_profile must be null or an IAM instance profile name."
  }
  validation {
    condition     = var.mode != "ec2" || var.instance_profile != null
    error_message = "instance_profile is required when mode is \"ec2\"."
  }
}

variable "identifier" {
  description = "Identifier of the RDS instance (rds mode): the instance-roles module's rds_identifier output, the one database the web role may read the master secret of."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,61}[a-z0-9]$", var.identifier)) && !strcontains(var.identifier, "--")
    error_message = "identifier must be an RDS instance identifier: 1-63 lowercase letters, digits and single hyphens, starting with a letter, not ending with a hyphen."
  }
}

variable "secret_name_prefix" {
  description = "Name space of the stack's secrets (the instance-roles module's secret_name_prefix output, gitops/<name>/): the instance roles read only secrets under it."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9/_+=.@-]+/$", var.secret_name_prefix))
    error_message = "secret_name_prefix must be a Secrets Manager name prefix ending in a slash, such as gitops/study-seoul/."
  }
}
