variable "aws_region" {
  description = "Region of the provider (IAM and Budgets are global; the state bucket's region keeps things together)."
  type        = string
  default     = "ap-northeast-2"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as ap-northeast-2."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com provider in the account, to reuse it; empty creates one. make bootstrap fills it in when one exists that this root did not make."
  type        = string
  default     = ""

  validation {
    condition     = var.oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "create_budget" {
  description = "Create the account's cost budget. False only where the API has no AWS Budgets (LocalStack's free edition, in make bootstrap-rehearsal)."
  type        = bool
  default     = true
}

variable "budget_name" {
  description = "Name of the budget: unique in the account, 1-100 characters, no colon or backslash (the Budgets API's rule). make bootstrap passes it (gitops.terraform.bootstrap.BUDGET_NAME, or budget_name in account.auto.tfvars.json)."
  type        = string

  validation {
    condition     = length(var.budget_name) >= 1 && length(var.budget_name) <= 100 && can(regex("^[^:\\\\]+$", var.budget_name)) && !strcontains(var.budget_name, "/action/")
    error_message = "budget_name must be 1-100 characters without ':' or '\\' and without '/action/' (the Budgets API's BudgetName rule)."
  }
}

variable "budget_monthly_usd" {
  description = "Monthly cost, in US dollars, the whole account is expected to stay under: an e-mail goes out at 80 % of it (actual) and when the month is forecast to pass it."
  type        = number

  validation {
    condition     = var.budget_monthly_usd >= 1 && var.budget_monthly_usd <= 1000000
    error_message = "budget_monthly_usd must be between 1 and 1000000 (US dollars a month)."
  }
}

variable "budget_emails" {
  description = "E-mail addresses the budget notifies: 1 to 10 (the Budgets API allows 10 e-mail subscribers per notification)."
  type        = list(string)

  validation {
    condition     = length(var.budget_emails) >= 1 && length(var.budget_emails) <= 10
    error_message = "budget_emails must hold 1 to 10 addresses: a Budgets notification takes at most 10 e-mail subscribers."
  }
  validation {
    condition     = alltrue([for e in var.budget_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e)) && length(e) <= 254])
    error_message = "budget_emails must be e-mail addresses such as you@example.com."
  }
  validation {
    condition     = length(distinct(var.budget_emails)) == length(var.budget_emails)
    error_message = "budget_emails must not name an address twice."
  }
}
