# What exists once per AWS account, whatever the number of environments or repositories in it,
# applied by `make bootstrap` with the operator's own credentials (never in CI). Its state stays
# local, in this directory, like the state bucket's:
#
#   - GitHub's OIDC provider (an account holds one per URL): created here, or an existing one
#     reused (var.oidc_provider_arn, which make bootstrap fills in) and then left alone;
#   - an AWS Budgets cost budget for the whole account, which e-mails when the month's actual
#     cost passes 80 % of the amount or the forecast passes 100 %: a stack that a missed nightly
#     destroy left running is noticed from AWS too, not only from GitHub.

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Purpose   = "gitops-account"
      ManagedBy = "terraform"
    }
  }
}

# IAM validates GitHub's certificate through its own library of trusted root CAs, so no
# thumbprint is pinned here (the provider leaves thumbprint_list empty; AWS ignores it for this URL).
resource "aws_iam_openid_connect_provider" "github" {
  count = var.oidc_provider_arn == "" ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]

  lifecycle {
    ignore_changes = [tags] # tags added by hand stay when make bootstrap runs again
  }
}

# Budgets is free for an account's first budgets (AWS Budgets pricing); it reads the whole
# account's cost, so it is made once here, not once per environment.
resource "aws_budgets_budget" "monthly" {
  count = var.create_budget ? 1 : 0

  name         = var.budget_name
  budget_type  = "COST"
  limit_amount = format("%.2f", var.budget_monthly_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 80
    threshold_type             = "PERCENTAGE"
    notification_type          = "ACTUAL"
    subscriber_email_addresses = var.budget_emails
  }

  notification {
    comparison_operator        = "GREATER_THAN"
    threshold                  = 100
    threshold_type             = "PERCENTAGE"
    notification_type          = "FORECASTED"
    subscriber_email_addresses = var.budget_emails
  }

  lifecycle {
    ignore_changes = [tags]
  }
}
