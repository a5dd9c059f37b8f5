# How the tiers connect, the same in every environment: the network's subnets feed the web
# and database tiers, the web tier's security group is the only one the database admits, and
# the database's address, port, name, user and password secret are injected into the web
# tier's user data. Both roots link to this file (envs/<env>/common_stack.tf); what differs
# per environment (provider, backend, db_mode, AMIs, whether instances run their user data)
# stays in each root's own files.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  app_dir   = "${path.module}/../../app"
  app_files = { for f in ["app.py", "requirements.txt", "Dockerfile", "compose.yaml", "nginx.conf", "schema.sql"] : f => file("${local.app_dir}/${f}") }
}

# The image, once for both tiers that run instances.
module "instance_base" {
  source = "../../modules/instance-base"

  ami_id = var.ami.id
}

# The instances' roles and the names IAM knows the stack by. In an AWS environment `make
# bootstrap` created the roles with the operator's credentials (local.create_instance_roles is
# false in the root): the pipeline manages no IAM and only passes them to EC2.
module "instance_roles" {
  source = "../../modules/instance-roles"

  project_name = var.project_name
  region       = var.aws_region
  account_id   = data.aws_caller_identity.current.account_id
  create_roles = local.create_instance_roles
}

module "vpc" {
  source = "../../modules/vpc"

  name                 = var.project_name
  vpc_cidr             = var.vpc_cidr
  public_subnet_cidrs  = var.public_subnet_cidrs
  private_subnet_cidrs = var.private_subnet_cidrs
  enable_nat_gateway   = var.enable_nat_gateway
}

module "db" {
  source = "../../modules/db"

  name                      = var.project_name
  mode                      = var.db_mode
  region                    = var.aws_region
  vpc_id                    = module.vpc.vpc_id
  subnet_ids                = module.vpc.private_subnet_ids
  allowed_security_group_id = module.web.security_group_id
  schema_sql                = local.app_files["schema.sql"]
  ami_id                    = module.instance_base.ami_id
  instance_profile          = module.instance_roles.db_instance_profile
  identifier                = module.instance_roles.rds_identifier
  secret_name_prefix        = module.instance_roles.secret_name_prefix
  detailed_monitoring       = var.detailed_monitoring
  # ec2 mode's setup script needs a way out (dnf, Secrets Manager), unless no user data runs.
  private_subnet_egress = var.enable_nat_gateway || !local.instances_run_user_data
  # ec2 mode: a fixed address, so the web tier need not wait for the database instance.
  ec2_private_ip = var.db_mode == "ec2" ? cidrhost(var.private_subnet_cidrs[0], 10) : null
}

module "web" {
  source = "../../modules/ec2"

  name                = var.project_name
  region              = var.aws_region
  vpc_id              = module.vpc.vpc_id
  vpc_cidr            = module.vpc.vpc_cidr
  subnet_id           = module.vpc.public_subnet_ids[0]
  instance_type       = var.web_instance_type
  ami_id              = module.instance_base.ami_id
  instance_profile    = module.instance_roles.web_instance_profile
  detailed_monitoring = var.detailed_monitoring
  key_name            = var.key_name
  ssh_allowed_cidrs   = var.ssh_allowed_cidrs
  app_files           = local.app_files
  db_host             = module.db.address
  db_port             = module.db.port
  db_name             = module.db.db_name
  db_user             = module.db.username
  db_secret_arn       = module.db.password_secret_arn
  db_secret_is_master = module.db.password_secret_is_master
}
