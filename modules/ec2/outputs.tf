output "instance_id" {
  description = "ID of the web instance."
  value       = aws_instance.this.id
}

output "public_ip" {
  description = "Public IPv4 address of the web instance (changes when the instance is replaced)."
  value       = aws_instance.this.public_ip
}

output "security_group_id" {
  description = "ID of the web tier's security group: the database admits only this group."
  value       = aws_security_group.this.id
}

output "user_data" {
  description = "The rendered user data, for checks that compare it with what the instance stores."
  value       = local.user_data
}

output "ami_id" {
  description = "AMI the web instance runs."
  value       = var.ami_id
}
