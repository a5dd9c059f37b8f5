# tflint for every Terraform directory (`tflint --recursive`, run by the pre-commit hook
# scripts/hooks/tflint.py). The terraform ruleset's recommended preset plus the AWS ruleset;
# `tflint --init` installs the AWS ruleset at the pinned version below.

config {
  format           = "compact"
  call_module_type = "local" # follow ../../modules calls, so root values reach module rules
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "aws" {
  enabled = true
  version = "0.48.0"
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
}

# The conventions (every variable and output described) as rules, beyond the preset.
rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}
