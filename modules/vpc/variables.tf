variable "name" {
  description = "Name prefix for every resource of the network."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 CIDR block with a prefix between /16 and /24 (AWS limits), such as 10.0.0.0/16."
  }
}

variable "public_subnet_cidrs" {
  description = "CIDR blocks of the public subnets, one per availability zone in order."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_cidrs) >= 1 && alltrue([for c in var.public_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "public_subnet_cidrs must hold at least one valid IPv4 CIDR block."
  }
}

variable "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets, one per availability zone in order. At least two: an RDS subnet group spans two zones."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_cidrs) >= 2 && alltrue([for c in var.private_subnet_cidrs : can(cidrnetmask(c))])
    error_message = "private_subnet_cidrs must hold at least two valid IPv4 CIDR blocks (a DB subnet group needs two availability zones)."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread the subnets over. Empty: the region's first available zones."
  type        = list(string)
  default     = []
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway so private subnets reach the internet. Off by default: it is billed every hour."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
