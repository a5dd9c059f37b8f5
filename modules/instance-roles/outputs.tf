output "iam_path" {
  description = "IAM path of the stack's roles and instance profiles (/gitops/<project_name>/): a name space no other project falls into, since the path ends with a delimiter."
  value       = local.iam_path
}

output "web_instance_profile" {
  description = "Name of the web instance's instance profile."
  value       = var.create_roles ? aws_iam_instance_profile.this["web"].name : local.names.web

  # An instance launched with the profile reads its secret at boot: the role's policy first.
  depends_on = [aws_iam_role_policy.this]
}

output "db_instance_profile" {
  description = "Name of the ec2-mode database instance's instance profile."
  value       = var.create_roles ? aws_iam_instance_profile.this["db"].name : local.names.db

  depends_on = [aws_iam_role_policy.this]
}

output "role_arns" {
  description = "Tier (web, db) => ARN of its role: the only roles the apply role may pass, and only to EC2."
  value       = local.role_arns
}

output "secret_name_prefix" {
  description = "Prefix of the stack's own Secrets Manager secrets (gitops/<project_name>/): the roles read only secrets under it."
  value       = local.secret_prefix
}

output "rds_identifier" {
  description = "Identifier of the stack's RDS instance: the one database whose RDS-managed master secret the web role may read."
  value       = local.rds_identifier
}

output "rds_arn" {
  description = "ARN of the stack's RDS instance (it exists only while the stack does)."
  value       = local.rds_arn
}

output "policies" {
  description = "Tier => its rendered inline policy (tests and the IAM linter read them)."
  value       = { for tier, doc in data.aws_iam_policy_document.tier : tier => doc.json }
}

output "trust_policy" {
  description = "The instance roles' trust policy (EC2 only; the IAM linter reads it)."
  value       = data.aws_iam_policy_document.assume_ec2.json
}
