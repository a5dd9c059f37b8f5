locals {
  # A fixed identifier (var.identifier): the log groups below must be named before RDS creates
  # the instance, and the web role may read the master secret of this database only.
  rds_identifier = var.identifier
  # Major version ("8.4") of rds_engine_version: the parameter group family and the key of the
  # support table (mysql_support.json).
  rds_major = join(".", slice(split(".", var.rds_engine_version), 0, 2))
  # Logs RDS publishes to CloudWatch. slowquery has content only because the parameter group
  # below turns the slow query log on (the default group leaves it off).
  rds_log_exports = ["error", "slowquery"]
}

resource "aws_db_subnet_group" "this" {
  count = local.is_rds ? 1 : 0

  name_prefix = "${var.name}-db-"
  description = "Private subnets of ${var.name}"
  subnet_ids  = var.subnet_ids

  tags = merge({ Name = "${var.name}-db" }, var.tags)
}

resource "aws_db_parameter_group" "this" {
  count = local.is_rds ? 1 : 0

  name_prefix = "${var.name}-db-"
  family      = "mysql${local.rds_major}"
  description = "MySQL ${local.rds_major} settings of ${var.name}"

  parameter {
    name  = "slow_query_log"
    value = "1"
  }

  parameter {
    name  = "long_query_time"
    value = tostring(var.rds_slow_query_seconds)
  }

  parameter {
    name  = "log_output"
    value = "FILE" # CloudWatch export reads the log files, not the mysql.slow_log table
  }

  tags = merge({ Name = "${var.name}-db" }, var.tags)

  lifecycle {
    create_before_destroy = true
  }
}

# RDS would create /aws/rds/instance/<id>/<log> itself on first export, outside Terraform and
# never expiring. Made here first, they are destroyed with the stack: the logs last as long as
# the stack does (a nightly destroy ends them; the retention only caps a stack kept longer).
resource "aws_cloudwatch_log_group" "rds" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest already; a customer key adds a key policy and a monthly charge for the error and slow query logs of a study database.
  #checkov:skip=CKV_AWS_338:The groups are destroyed with the stack every night, so the logs live as long as the stack whatever the retention (var.rds_log_retention_days, a cap for a stack kept longer); a year would keep nothing longer. Exporting them before the nightly destroy is out of scope.
  for_each = local.is_rds ? toset(local.rds_log_exports) : toset([])

  name              = "/aws/rds/instance/${local.rds_identifier}/${each.key}"
  retention_in_days = var.rds_log_retention_days

  tags = merge({ Name = "${var.name}-db-${each.key}" }, var.tags)
}

# The master password is generated and kept by RDS in Secrets Manager
# (manage_master_user_password): it never passes through Terraform, so it is in no state file.
resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_293:Deletion protection is var.rds_deletion_protection, off so the nightly destroy-seoul run can remove this rehearsal database; turn it on for data worth keeping.
  #checkov:skip=CKV_AWS_157:Multi-AZ is var.rds_multi_az, off because a standby doubles the cost of a study stack destroyed every night; turn it on for production.
  #checkov:skip=CKV_AWS_161:IAM database authentication is off because nothing uses it: the app logs in with its own generated password, and an unused login path is one more to guard.
  #checkov:skip=CKV_AWS_118:Enhanced (OS-level) monitoring needs its own IAM role and is billed as CloudWatch Logs; RDS's standard 1-minute metrics and the exported error/slowquery logs cover a db.t3.micro study database.
  count = local.is_rds ? 1 : 0

  identifier                          = local.rds_identifier
  engine                              = "mysql"
  engine_version                      = var.rds_engine_version
  engine_lifecycle_support            = "open-source-rds-extended-support-disabled" # never billed for Extended Support
  parameter_group_name                = aws_db_parameter_group.this[0].name
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
  iam_database_authentication_enabled = false # unused: the app logs in with its own generated password
  enabled_cloudwatch_logs_exports     = local.rds_log_exports
  skip_final_snapshot                 = true

  tags = merge({ Name = "${var.name}-db" }, var.tags)

  depends_on = [aws_cloudwatch_log_group.rds]
}
