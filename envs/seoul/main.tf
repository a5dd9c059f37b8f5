# The stack itself (network, web tier, database tier and how they connect) is in
# common_stack.tf, shared with every environment. This root only chooses the real AWS
# provider in Seoul (providers.tf), the S3 backend (backend.tf) and RDS for the database
# (terraform.tfvars).

locals {
  # Real instances run their user data: in ec2 db mode the setup script must reach dnf's
  # repositories and Secrets Manager (modules/db refuses that mode without a NAT gateway).
  instances_run_user_data = true

  # The instances' roles are `make bootstrap`'s (bootstrap/github-oidc), made with the
  # operator's credentials: the apply role manages no IAM, it only passes them to EC2.
  create_instance_roles = false
}
