# What every EC2 instance of the stack shares, defined once: the image it boots and the trust
# policy that lets EC2 assume its role. The root calls this module once and hands both outputs
# to the web tier and to the ec2-mode database.

# The region's current Amazon Linux 2023 image, unless a root pins one (ami_id): AMI IDs are
# region-specific, so no module names one.
data "aws_ssm_parameter" "ami" {
  count = var.ami_id == null ? 1 : 0

  name = var.ami_ssm_parameter
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}
