# ec2 mode: a MySQL-compatible server on an instance in a private subnet. Its password is
# made by Secrets Manager at apply time (ephemeral) and written into the secret with a
# write-only argument, so it is in neither the plan, the state nor the user data; the setup
# script and the app both read it from the secret with their instance roles.

ephemeral "aws_secretsmanager_random_password" "db" {
  count = local.is_ec2 ? 1 : 0

  password_length     = 32
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "db" {
  #checkov:skip=CKV2_AWS_57:Rotation would need a Lambda rotator; ec2 mode is the emulator's stand-in shape.
  #checkov:skip=CKV_AWS_149:The AWS-managed key is enough for a rehearsal secret; rds mode uses RDS's own managed secret.
  count = local.is_ec2 ? 1 : 0

  name_prefix             = "${var.secret_name_prefix}db-"
  description             = "Credentials of the ${var.name} app database (JSON: username, password)"
  recovery_window_in_days = 0 # delete at once, so a re-create can reuse the name

  tags = merge({ Name = "${var.name}-db" }, var.tags)
}

resource "aws_secretsmanager_secret_version" "db" {
  count = local.is_ec2 ? 1 : 0

  secret_id = aws_secretsmanager_secret.db[0].id
  secret_string_wo = jsonencode({
    username = var.db_username
    password = ephemeral.aws_secretsmanager_random_password.db[0].random_password
  })
  secret_string_wo_version = 1
}

locals {
  setup_user_data = local.is_ec2 ? templatefile("${path.module}/templates/db_setup.sh.tftpl", {
    region     = var.region
    secret_arn = aws_secretsmanager_secret.db[0].arn
    db_name    = var.db_name
    db_user    = var.db_username
    port       = var.port
    schema_sql = var.schema_sql
  }) : null
}

resource "aws_instance" "db" {
  count = local.is_ec2 ? 1 : 0

  ami                         = var.ami_id
  instance_type               = var.ec2_instance_type
  subnet_id                   = var.subnet_ids[0]
  private_ip                  = var.ec2_private_ip
  vpc_security_group_ids      = [aws_security_group.this.id]
  iam_instance_profile        = var.instance_profile
  monitoring                  = var.detailed_monitoring
  ebs_optimized               = true
  user_data_replace_on_change = true
  user_data                   = local.setup_user_data

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = 8
  }

  tags = merge({ Name = "${var.name}-db" }, var.tags)

  # The secret's value exists before the setup script asks (the script retries a little too).
  depends_on = [aws_secretsmanager_secret_version.db]
}
