locals {
  is_rds = var.mode == "rds"
  is_ec2 = var.mode == "ec2"
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-db-"
  description = "Database tier: MySQL only from the web tier's security group"
  vpc_id      = var.vpc_id

  ingress {
    description     = "MySQL from the web tier only"
    from_port       = var.port
    to_port         = var.port
    protocol        = "tcp"
    security_groups = [var.allowed_security_group_id]
  }

  # ec2 mode only: the setup script installs packages and reads its secret over HTTPS
  # (in real AWS that needs enable_nat_gateway, or VPC endpoints). RDS needs no egress.
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
