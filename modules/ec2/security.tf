resource "aws_security_group" "this" {
  name_prefix = "${var.name}-web-"
  description = "Web tier: HTTP from anywhere, SSH only from ssh_allowed_cidrs"
  vpc_id      = var.vpc_id

  ingress {
    #checkov:skip=CKV_AWS_260:Serving HTTP on port 80 to the world is the point of a web tier.
    description = "HTTP from anywhere"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  dynamic "ingress" {
    for_each = length(var.ssh_allowed_cidrs) > 0 ? [1] : []

    content {
      description = "SSH from the allowed networks only"
      from_port   = 22
      to_port     = 22
      protocol    = "tcp"
      cidr_blocks = var.ssh_allowed_cidrs
    }
  }

  egress {
    description = "HTTPS out: packages, container images, Secrets Manager"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "HTTP out: package mirrors"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "MySQL to the database tier inside the VPC"
    from_port   = var.db_port
    to_port     = var.db_port
    protocol    = "tcp"
    cidr_blocks = [var.vpc_cidr]
  }

  tags = merge({ Name = "${var.name}-web" }, var.tags)

  lifecycle {
    create_before_destroy = true
  }
}
