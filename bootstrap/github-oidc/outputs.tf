output "repository_variables" {
  description = "The repository variables the workflows read (make github-setup sets them; gh variable set -R OWNER/NAME does too), by the names envs/<name>/environment.toml's [roles] gives them."
  value = merge(
    { for role, name in var.role_variables : name => aws_iam_role.pipeline[role].arn },
    { TF_STATE_BUCKET = var.state_bucket },
  )
}

output "trusted_subjects" {
  description = "Role => the OIDC sub claims its trust policy accepts (one list, local.subjects)."
  value       = local.trusted_subjects
}

output "instance_profiles" {
  description = "Tier => the instance profile the stack's instances run with (envs/<name> uses them; the pipeline only passes their roles)."
  value       = { web = module.instance_roles.web_instance_profile, db = module.instance_roles.db_instance_profile }
}

output "policies" {
  description = "The rendered permission policies by name, and the instance roles' as instance-<tier> (tests and the IAM linter read them)."
  value = merge(
    local.policy_documents,
    { for tier, doc in module.instance_roles.policies : "instance-${tier}" => doc },
  )
}

output "trust_policies" {
  description = "The rendered trust policies by role (plan, apply, destroy) and instance-<tier> (the IAM linter reads them)."
  value = merge(
    { for role in keys(local.subjects) : role => data.aws_iam_policy_document.trust[role].json },
    { for tier in keys(module.instance_roles.policies) : "instance-${tier}" => module.instance_roles.trust_policy },
  )
}
