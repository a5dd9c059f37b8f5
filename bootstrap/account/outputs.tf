output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider every environment's roles trust (created here or reused)."
  value       = var.oidc_provider_arn != "" ? var.oidc_provider_arn : aws_iam_openid_connect_provider.github[0].arn
}

output "budget" {
  description = "The account's cost budget: name, monthly amount and who is told (null when not created)."
  value = var.create_budget ? {
    name   = aws_budgets_budget.monthly[0].name
    amount = aws_budgets_budget.monthly[0].limit_amount
    emails = var.budget_emails
  } : null
}
