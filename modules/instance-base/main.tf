# What every EC2 instance of the stack shares, defined once: the image it boots. The root calls
# this module once and hands its output to the web tier and to the ec2-mode database. (The
# instances' roles are the instance-roles module's.)

# The region's current Amazon Linux 2023 image, unless a root pins one (ami_id): AMI IDs are
# region-specific, so no module names one.
data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0

  name = var.ami_ssm_parameter
}
