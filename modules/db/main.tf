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

  egress {
    description = "HTTPS out (ec2 mode: packages and Secrets Manager, through a NAT gateway or endpoints)"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge({ Name = "${var.name}-db" }, var.tags)

  lifecycle {
    create_before_destroy = true
  }
}
