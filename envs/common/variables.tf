# Root variables every environment shares, with the checks that refuse a wrong value at plan
# time, before any API call. Both roots link to this one file (envs/<env>/common_variables.tf),
# so the rules cannot drift apart between environments.
#
# These are the user-facing rules; the modules keep only what protects their own contract, and
# tests/test_validation_layers.py proves no module refuses a value these rules accept. Terraform
# evaluates both sides of || (no short-circuit), so a rule that builds on a format rule wraps
# itself in try(..., true): a malformed value is the format rule's to explain, not a crash.

variable "project_name" {
  description = "Name prefix of every resource (lowercase letters, digits, hyphens)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.project_name)) && !strcontains(var.project_name, "--")
    error_message = "project_name must be 3-32 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC, /16 to /24."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$", var.vpc_cidr)) && can(cidrnetmask(var.vpc_cidr))
    error_message = "vpc_cidr must be an IPv4 CIDR block such as 10.0.0.0/16."
  }
  validation {
    condition     = try(!can(cidrnetmask(var.vpc_cidr)) || (tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24), true)
    error_message = "vpc_cidr prefix must be between /16 and /24 (the sizes AWS allows for a VPC)."
  }
  validation {
    condition     = try(!can(cidrnetmask(var.vpc_cidr)) || cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], true)
    error_message = "vpc_cidr must name the network address of its block (for example 10.0.0.0/16, not 10.0.1.0/16)."
  }
  # Docker's default bridge (172.17.0.0/16) and default address pools (172.17-31.x, 192.168.x)
  # on the web host: a VPC inside them puts the database at an address the host routes into a
  # container bridge, so the app's traffic to it never leaves the host.
  validation {
    condition = try(!can(cidrnetmask(var.vpc_cidr)) || alltrue([
      for d in ["172.17.0.0/16", "172.18.0.0/15", "172.20.0.0/14", "172.24.0.0/13", "192.168.0.0/16"] :
      cidrhost("${cidrhost(var.vpc_cidr, 0)}/${min(split("/", var.vpc_cidr)[1], split("/", d)[1])}", 0) !=
      cidrhost("${cidrhost(d, 0)}/${min(split("/", var.vpc_cidr)[1], split("/", d)[1])}", 0)
    ]), true)
    error_message = "vpc_cidr must not overlap Docker's default networks, 172.17.0.0-172.31.255.255 and 192.168.0.0/16: the web host's containers would route traffic for the database (RDS) into their own bridge. Use a block in 10.0.0.0/8 or 172.16.0.0/16."
  }
}

variable "public_subnet_cidrs" {
  description = "CIDR blocks of the public subnets (web tier), inside vpc_cidr."
  type        = list(string)
  default     = ["10.0.1.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) >= 1 && alltrue([for c in var.public_subnet_cidrs : can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$", c)) && can(cidrnetmask(c)) && try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "public_subnet_cidrs must hold at least one IPv4 CIDR block, each naming its network address, such as 10.0.1.0/24."
  }
  validation {
    condition = try(!can(cidrnetmask(var.vpc_cidr)) || alltrue([for c in var.public_subnet_cidrs : !can(cidrnetmask(c)) || (
      tonumber(split("/", c)[1]) >= tonumber(split("/", var.vpc_cidr)[1]) && tonumber(split("/", c)[1]) <= 28 &&
      cidrhost("${cidrhost(c, 0)}/${split("/", var.vpc_cidr)[1]}", 0) == cidrhost(var.vpc_cidr, 0)
    )]), true)
    error_message = "public_subnet_cidrs must lie inside vpc_cidr, with prefixes /16 to /28."
  }
  validation {
    condition = try(alltrue(flatten([for i, a in var.public_subnet_cidrs : [
      for j, b in var.public_subnet_cidrs : !can(cidrnetmask(a)) || !can(cidrnetmask(b)) || i == j || (
        cidrhost("${cidrhost(a, 0)}/${min(split("/", a)[1], split("/", b)[1])}", 0) !=
        cidrhost("${cidrhost(b, 0)}/${min(split("/", a)[1], split("/", b)[1])}", 0)
      )
    ]])), true)
    error_message = "public_subnet_cidrs must not overlap each other (each block once)."
  }
}

variable "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets (database tier), inside vpc_cidr; at least two, for two availability zones."
  type        = list(string)
  default     = ["10.0.11.0/24", "10.0.12.0/24"]

  validation {
    condition     = length(var.private_subnet_cidrs) >= 2 && alltrue([for c in var.private_subnet_cidrs : can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$", c)) && can(cidrnetmask(c)) && try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "private_subnet_cidrs must hold at least two IPv4 CIDR blocks, each naming its network address (a DB subnet group spans two availability zones)."
  }
  validation {
    condition = try(!can(cidrnetmask(var.vpc_cidr)) || alltrue([for c in var.private_subnet_cidrs : !can(cidrnetmask(c)) || (
      tonumber(split("/", c)[1]) >= tonumber(split("/", var.vpc_cidr)[1]) && tonumber(split("/", c)[1]) <= 28 &&
      cidrhost("${cidrhost(c, 0)}/${split("/", var.vpc_cidr)[1]}", 0) == cidrhost(var.vpc_cidr, 0)
    )]), true)
    error_message = "private_subnet_cidrs must lie inside vpc_cidr, with prefixes /16 to /28."
  }
  validation {
    condition = try(alltrue(flatten([for i, a in var.private_subnet_cidrs : [
      for j, b in concat(var.private_subnet_cidrs, var.public_subnet_cidrs) : !can(cidrnetmask(a)) || !can(cidrnetmask(b)) || i == j || (
        cidrhost("${cidrhost(a, 0)}/${min(split("/", a)[1], split("/", b)[1])}", 0) !=
        cidrhost("${cidrhost(b, 0)}/${min(split("/", a)[1], split("/", b)[1])}", 0)
      )
    ]])), true)
    error_message = "private_subnet_cidrs must not overlap each other, nor public_subnet_cidrs."
  }
}

variable "ssh_allowed_cidrs" {
  description = "CIDR blocks allowed to reach SSH on the web tier. Empty (the default) opens nothing."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}$", c)) && can(cidrnetmask(c))])
    error_message = "ssh_allowed_cidrs must hold IPv4 CIDR blocks such as 203.0.113.10/32."
  }
  validation {
    condition     = try(alltrue([for c in var.ssh_allowed_cidrs : !can(cidrnetmask(c)) || tonumber(split("/", c)[1]) >= 8]), true)
    error_message = "ssh_allowed_cidrs must not open SSH to the internet: 0.0.0.0/0 and blocks wider than /8 are refused."
  }
}

variable "web_instance_type" {
  description = "EC2 instance type of the web tier."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*[a-z]([a-z0-9-]*[a-z0-9])?$", var.web_instance_type))
    error_message = "web_instance_type must look like an EC2 instance type, family.size, such as t3.micro or c7i.metal-24xl."
  }
}

variable "aws_region" {
  description = "AWS region of the environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as ap-northeast-2."
  }
}

variable "db_mode" {
  description = "How the database tier runs: \"rds\" (managed MySQL) or \"ec2\" (a server on an instance, the shape LocalStack's free edition can emulate)."
  type        = string

  validation {
    condition     = contains(["rds", "ec2"], var.db_mode)
    error_message = "db_mode must be \"rds\" or \"ec2\"."
  }
}

variable "ami" {
  description = "AMI of the instances (Amazon Linux 2023), pinned per environment in terraform.tfvars so a new AMI release never replaces an instance by surprise: its id, the region it was resolved for (an AMI ID names an image in one region only) and the image's name (its release). `make ami ENV=<env>` writes the region's current one; the plan then shows the replacement for review."
  type = object({
    id     = string
    region = string
    name   = string
  })

  validation {
    condition     = try(can(regex("^ami-[0-9a-f]{8,17}$", var.ami.id)), false)
    error_message = "ami.id must be an AMI ID such as ami-0123456789abcdef0 (run `make ami ENV=<env>` to write the region's current Amazon Linux 2023)."
  }
  validation {
    condition     = try(var.ami.region == var.aws_region, true)
    error_message = "ami was resolved for ${try(var.ami.region, "no region")}, but aws_region is ${var.aws_region}: an AMI ID names an image in one region only (a pin copied from another environment?). Run `make ami ENV=<env>` to pin this region's image."
  }
  # EC2's rule for an image name (CreateImage/RegisterImage), as gitops.terraform.ami_pin states it.
  validation {
    condition     = try(can(regex("^[A-Za-z0-9()\\[\\] ./'@_-]{3,128}$", var.ami.name)), true)
    error_message = "ami.name must be the image's name, 3-128 letters, digits and ( ) [ ] . / - ' @ _ or spaces, as `make ami ENV=<env>` records it."
  }
}

variable "key_name" {
  description = "Existing EC2 key pair for SSH to the web tier, tagged Project = project_name on AWS (the apply role launches with no other). Null: no key pair."
  type        = string
  default     = null
}

variable "enable_nat_gateway" {
  description = "Give the private subnets a NAT gateway (billed hourly). Off by default."
  type        = bool
  default     = false
}

variable "detailed_monitoring" {
  description = "1-minute CloudWatch detailed monitoring on the instances. Off only where the API lacks it (LocalStack)."
  type        = bool
  default     = true
}

# Terraform checks each variable's validation in a graph node of its own and meanwhile goes on
# with everything that does not refer to that variable: a provider that did not refer to, say,
# vpc_cidr would be configured, and would read data sources, while vpc_cidr's validation fails.
# So each root's provider takes its region from this value, which refers to every input above:
# no provider is configured, and no API call is made, until every input has passed its
# validation (tests/test_bad_inputs.py proves it with a recording endpoint).
locals {
  validated_inputs = {
    project_name         = var.project_name
    vpc_cidr             = var.vpc_cidr
    public_subnet_cidrs  = var.public_subnet_cidrs
    private_subnet_cidrs = var.private_subnet_cidrs
    ssh_allowed_cidrs    = var.ssh_allowed_cidrs
    web_instance_type    = var.web_instance_type
    aws_region           = var.aws_region
    db_mode              = var.db_mode
    ami                  = var.ami
    key_name             = var.key_name
    enable_nat_gateway   = var.enable_nat_gateway
    detailed_monitoring  = var.detailed_monitoring
  }
}
