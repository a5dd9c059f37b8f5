# The account root's inputs, refused before any API call (`terraform test`, mocked provider:
# no credentials, no AWS; tests/test_budget.py runs it and checks the arguments sent).

mock_provider "aws" {}

variables {
  budget_name        = "gitops-monthly-cost"
  budget_monthly_usd = 20
  budget_emails      = ["ops@example.com"]
}

run "a_valid_budget_plans" {
  command = plan

  assert {
    condition     = aws_budgets_budget.monthly[0].limit_amount == "20.00" && length(aws_budgets_budget.monthly[0].notification) == 2
    error_message = "the budget must be 20.00 USD with an actual and a forecast notification"
  }
}

run "no_budget_where_budgets_is_not_emulated" {
  command = plan

  variables {
    create_budget = false
  }

  assert {
    condition     = length(aws_budgets_budget.monthly) == 0
    error_message = "create_budget = false must leave the budget out"
  }
}

run "zero_dollars_is_refused" {
  command = plan

  variables {
    budget_monthly_usd = 0
  }
  expect_failures = [var.budget_monthly_usd]
}

run "no_address_is_refused" {
  command = plan

  variables {
    budget_emails = []
  }
  expect_failures = [var.budget_emails]
}

run "eleven_addresses_are_refused" {
  command = plan

  variables {
    budget_emails = [for i in range(11) : "ops${i}@example.com"]
  }
  expect_failures = [var.budget_emails]
}

run "a_bad_address_is_refused" {
  command = plan

  variables {
    budget_emails = ["not-an-address"]
  }
  expect_failures = [var.budget_emails]
}

run "the_same_address_twice_is_refused" {
  command = plan

  variables {
    budget_emails = ["ops@example.com", "ops@example.com"]
  }
  expect_failures = [var.budget_emails]
}

run "a_colon_in_the_name_is_refused" {
  command = plan

  variables {
    budget_name = "gitops:monthly"
  }
  expect_failures = [var.budget_name]
}

run "a_name_over_100_characters_is_refused" {
  command = plan

  variables {
    budget_name = join("", [for i in range(101) : "x"])
  }
  expect_failures = [var.budget_name]
}
