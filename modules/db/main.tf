locals {
  is_rds = var.mode == "rds"
  is_ec2 = var.mode == "ec2"

  # End of RDS standard support per MySQL major version; the file says where the dates come from.
  mysql_standard_support_end = jsondecode(file("${path.module}/mysql_support.json")).end_of_standard_support

  # The one rule for the two MySQL user names (db_username, master_username): RDS's for a
  # master user (1-16 letters, digits or underscores, starting with a letter), less the names
  # RDS or MySQL keep for themselves or that would pass for an administrator.
  mysql_user_pattern   = "^[A-Za-z][A-Za-z0-9_]{0,15}$"
  mysql_reserved_users = ["admin", "root", "rdsadmin"]
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-db-"
  description = "Database tier: MySQL only from the security group of the web tier"
  vpc_id      = var.vpc_id

  ingress {
    description     = "MySQL from the web tier only"
    from_port       = var.port
    to_port         = var.port
    protocol        = "tcp"
    security_groups = [var.allowed_security_group_id]
  }

  # ec2 mode only: the setup script installs packages and reads its secret over HTTPS
  # (in real AWS through the NAT gateway var.private_subnet_egress asks for). RDS needs no egress.
  dynamic "egress" {
    for_each = local.is_ec2 ? [1] : []

    content {
      description = "HTTPS out: packages and Secrets Manager (ec2 mode)"
      from_port   = 443
      to_port     = 443
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }

  tags = merge({ Name = "${var.name}-db" }, var.tags)

  lifecycle {
    create_before_destroy = true
  }
}
