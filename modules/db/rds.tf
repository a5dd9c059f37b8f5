resource "aws_db_subnet_group" "this" {
  count = local.is_rds ? 1 : 0

  name_prefix = "${var.name}-db-"
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = merge({ Name = "${var.name}-db" }, var.tags)
}

# The master password is generated and kept by RDS in Secrets Manager
# (manage_master_user_password): it never passes through Terraform, so it is in no state file.
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293:Deletion protection is var.rds_deletion_protection, off so the nightly destroy-seoul run can remove this rehearsal database; turn it on for data worth keeping.
  #checkov:skip=CKV_AWS_157:Multi-AZ is var.rds_multi_az, off because a standby doubles the cost of a study stack destroyed every night; turn it on for production.
  #checkov:skip=CKV_AWS_118:Enhanced (OS-level) monitoring needs its own IAM role and is billed as CloudWatch Logs; RDS's standard 1-minute metrics and the exported error/slowquery logs cover a db.t3.micro study database.
  count = local.is_rds ? 1 : 0

  identifier_prefix                   = "${var.name}-db-"
  engine                              = "mysql"
  engine_version                      = var.rds_engine_version
  instance_class                      = var.rds_instance_class
  allocated_storage                   = var.rds_allocated_storage
  storage_type                        = "gp3"
  storage_encrypted                   = true
  db_name                             = var.db_name
  username                            = var.master_username
  manage_master_user_password         = true
  port                                = var.port
  db_subnet_group_name                = aws_db_subnet_group.this[0].name
  vpc_security_group_ids              = [aws_security_group.this.id]
  publicly_accessible                 = false
  multi_az                            = var.rds_multi_az
  deletion_protection                 = var.rds_deletion_protection
  backup_retention_period             = var.rds_backup_retention_days
  auto_minor_version_upgrade          = true
  copy_tags_to_snapshot               = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["error", "slowquery"]
  skip_final_snapshot                 = true

  tags = merge({ Name = "${var.name}-db" }, var.tags)
}
