# Non-secret values only. Secrets never go here: RDS keeps the database password itself.
project_name         = "study-seoul"
aws_region           = "ap-northeast-2"
db_mode              = "rds"
vpc_cidr             = "10.10.0.0/16"
public_subnet_cidrs  = ["10.10.1.0/24", "10.10.2.0/24"]
private_subnet_cidrs = ["10.10.11.0/24", "10.10.12.0/24"]
ssh_allowed_cidrs    = []
web_instance_type    = "t3.micro"
# Pinned: a new Amazon Linux release replaces the instances only when `make ami ENV=seoul`
# rewrites this block and the change is reviewed. region and name record what the ID was
# resolved for: an AMI ID names an image in one region only, and the name is its release.
ami = {
  id     = "ami-0870825cefcaafcc8"
  region = "ap-northeast-2"
  name   = "al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64"
} # make ami: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 on 2026-09-30
