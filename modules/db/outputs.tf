output "address" {
  description = "Host name or IP address the app connects to."
  value       = local.is_rds ? aws_db_instance.this[0].address : var.ec2_private_ip
}

output "port" {
  description = "TCP port of the database."
  value       = var.port
}

output "db_name" {
  description = "Name of the app's database."
  value       = var.db_name
}

output "username" {
  description = "Database user of the app."
  value       = var.db_username
}

output "password_secret_arn" {
  description = "ARN of the Secrets Manager secret whose JSON holds username and password: RDS's managed master secret in rds mode, the app user's own secret in ec2 mode."
  value       = local.is_rds ? aws_db_instance.this[0].master_user_secret[0].secret_arn : aws_secretsmanager_secret.db[0].arn
}

output "password_secret_is_master" {
  description = "True when password_secret_arn holds the RDS master user (rds mode), from which the web tier creates the app's user; false when it holds the app's user itself (ec2 mode)."
  value       = local.is_rds
}

output "security_group_id" {
  description = "ID of the database's security group."
  value       = aws_security_group.this.id
}

output "instance_id" {
  description = "ID of the database instance in ec2 mode; null in rds mode."
  value       = local.is_ec2 ? aws_instance.db[0].id : null
}

output "setup_user_data" {
  description = "Rendered setup script of the ec2-mode database instance; null in rds mode."
  value       = local.setup_user_data
}
