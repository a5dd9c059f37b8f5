# The stack itself (network, web tier, database tier and how they connect) is in
# common_stack.tf, shared with every environment. This root only chooses the emulator
# provider (providers.tf), local state (backend.tf) and ec2-mode for the database
# (terraform.tfvars), because LocalStack's free edition has no RDS.

locals {
  # LocalStack records instances but runs none of their user data: the ec2-mode database's
  # setup script never runs here (a local MySQL stand-in takes its place), so the private
  # subnets need no way out to packages or Secrets Manager.
  instances_run_user_data = false

  # An emulator with dummy credentials: this root makes its own copies of the instances' roles,
  # through the same module as the bootstrap.
  create_instance_roles = true
}
