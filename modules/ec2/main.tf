resource "aws_instance" "this" {
  #checkov:skip=CKV_AWS_88:The web tier serves the public on port 80, so it needs a public address.
  ami                         = var.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.this.id]
  associate_public_ip_address = true
  key_name                    = var.key_name
  iam_instance_profile        = var.instance_profile
  monitoring                  = var.detailed_monitoring
  ebs_optimized               = true
  # Gzipped (cloud-init unpacks it): EC2 takes 16 KB of raw user data, and the app's files
  # travel in it. tests/test_module_plans.py keeps it under a budget with headroom.
  user_data_base64            = base64gzip(local.user_data)
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1 # the host only: containers get no instance credentials
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = var.root_volume_size
  }

  tags = merge({ Name = "${var.name}-web" }, var.tags)
}
