"""Terraform per environment: the runner, the state lock, the provider mirror."""
