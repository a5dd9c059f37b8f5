# The stack itself (network, web tier, database tier and how they connect) is in
# common_stack.tf, shared with every environment. This root only chooses the emulator
# provider (providers.tf), local state (backend.tf) and ec2-mode for the database
# (terraform.tfvars), because LocalStack's free edition has no RDS.
