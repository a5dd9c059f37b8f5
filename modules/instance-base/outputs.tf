output "ami_id" {
  description = "AMI the instances boot: ami_id when set, else the one ami_ssm_parameter names."
  value       = var.ami_id != null ? var.ami_id : nonsensitive(data.aws_ssm_parameter.ami[0].value)
}
