"""The repository's own pre-commit hooks: terraform validate and tflint over every root."""
