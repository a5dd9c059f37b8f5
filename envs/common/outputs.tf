# Outputs every environment gives, under the names other tooling reads (smoke tests, the
# workflows). Both roots link to this one file (envs/<env>/common_outputs.tf).

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.vpc.vpc_id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets (web tier)."
  value       = module.vpc.public_subnet_ids
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (database tier)."
  value       = module.vpc.private_subnet_ids
}

output "public_route_table_id" {
  description = "Route table of the public subnets: default route to the internet gateway."
  value       = module.vpc.public_route_table_id
}

output "private_route_table_id" {
  description = "Route table of the private subnets: no internet gateway route."
  value       = module.vpc.private_route_table_id
}

output "internet_gateway_id" {
  description = "ID of the internet gateway."
  value       = module.vpc.internet_gateway_id
}

output "web_instance_id" {
  description = "ID of the web instance."
  value       = module.web.instance_id
}

output "web_public_ip" {
  description = "Public IP of the web instance: the app answers on http://<this>/health."
  value       = module.web.public_ip
}

output "web_security_group_id" {
  description = "Security group of the web tier."
  value       = module.web.security_group_id
}

output "web_user_data" {
  description = "User data Terraform rendered for the web instance (smoke tests compare it with what EC2 stores)."
  value       = module.web.user_data
}

output "db_security_group_id" {
  description = "Security group of the database tier (admits the web tier's group only)."
  value       = module.db.security_group_id
}

output "db_address" {
  description = "Database host the app is configured with."
  value       = module.db.address
}

output "db_port" {
  description = "Database port."
  value       = module.db.port
}

output "db_name" {
  description = "Name of the app's database."
  value       = module.db.db_name
}

output "db_username" {
  description = "Database user of the app."
  value       = module.db.username
}

output "db_password_secret_arn" {
  description = "Secrets Manager secret holding the database password (the value itself is never an output)."
  value       = module.db.password_secret_arn
}

output "db_mode" {
  description = "How the database tier runs: rds or ec2."
  value       = var.db_mode
}

output "db_instance_id" {
  description = "ID of the database instance in ec2 mode; null in rds mode."
  value       = module.db.instance_id
}

output "db_setup_user_data" {
  description = "Setup script Terraform rendered for the ec2-mode database instance; null in rds mode."
  value       = module.db.setup_user_data
}

output "ssh_allowed_cidrs" {
  description = "CIDR blocks allowed to reach SSH on the web tier."
  value       = var.ssh_allowed_cidrs
}

output "aws_region" {
  description = "Region of this environment."
  value       = var.aws_region
}
