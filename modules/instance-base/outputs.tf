output "ami_id" {
  description = "AMI the instances boot: ami_id when set, else the one ami_ssm_parameter names."
  value       = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.ami[0].value)
}

output "assume_role_policy" {
  description = "Trust policy (JSON) that lets EC2 assume an instance role: the assume_role_policy of every instance role."
  value       = data.aws_iam_policy_document.assume_ec2.json
}
