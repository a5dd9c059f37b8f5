# Non-secret values only. Secrets never go here.
project_name         = "study-local"
aws_region           = "us-east-1"
db_mode              = "ec2"
vpc_cidr             = "10.0.0.0/16"
public_subnet_cidrs  = ["10.0.1.0/24", "10.0.2.0/24"]
private_subnet_cidrs = ["10.0.11.0/24", "10.0.12.0/24"]
ssh_allowed_cidrs    = ["192.0.2.10/32"] # documentation range: proves the SSH rule is rendered
web_instance_type    = "t3.micro"
detailed_monitoring  = false # LocalStack does not implement MonitorInstances
# Pinned: a new Amazon Linux release replaces the instances only when `make ami ENV=localstack`
# rewrites this block and the change is reviewed. region and name record what the ID was
# resolved for: an AMI ID names an image in one region only, and the name is its release.
ami = {
  id     = "ami-0d27e0fb3bac4d724"
  region = "us-east-1"
  name   = "al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64"
} # make ami: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 on 2026-09-30
