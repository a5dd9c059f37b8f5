output "repository_variables" {
  description = "The repository variables the workflows read (make github-setup sets them; gh variable set -R OWNER/NAME does too)."
  value = {
    AWS_PLAN_ROLE_ARN    = aws_iam_role.pipeline["plan"].arn
    AWS_APPLY_ROLE_ARN   = aws_iam_role.pipeline["apply"].arn
    AWS_DESTROY_ROLE_ARN = aws_iam_role.pipeline["destroy"].arn
    TF_STATE_BUCKET      = var.state_bucket
    TF_STATE_KEY         = "${var.state_key_prefix}terraform.tfstate"
    AWS_REGION           = var.aws_region
  }
}

output "trusted_subjects" {
  description = "Role => the OIDC sub claims its trust policy accepts (one list, local.subjects)."
  value       = local.trusted_subjects
}

output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider the roles trust (created here or reused)."
  value       = local.oidc_provider_arn
}

output "instance_boundary_arn" {
  description = "Permissions boundary every role of the stack carries (envs/seoul sets it on the instance roles)."
  value       = aws_iam_policy.instance_boundary.arn
}

output "policies" {
  description = "The rendered permission policies by name (tests and reviewers read them)."
  value       = merge(local.policy_documents, { "instance-boundary" = data.aws_iam_policy_document.instance_boundary.json })
}
