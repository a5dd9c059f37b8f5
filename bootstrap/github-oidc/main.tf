# The AWS side of one environment, applied by `make bootstrap ENV=<name>` with the operator's
# own credentials (never in CI), once per environment (each with its own local state,
# state/<name>.tfstate). Three roles the workflows assume, each trusted by exactly the OIDC
# subjects it needs, and the roles of the stack's instances (modules/instance-roles), which
# the pipeline therefore never has to create: it only passes them to EC2.
#
#   plan     read-only; pull requests of this repository and pushes/schedules on main
#   apply    the reviewed apply and the manual destroy (environment with required reviewers)
#   destroy  destroy-only; the unattended nightly destroy (environment bound to main)
#
# The subjects come from one map (local.subjects); tests/test_bootstrap_iam.py derives the subjects
# the workflows present from .github/workflows and checks each is trusted by exactly one role.
# The state bucket is the root beside this one (bootstrap/state-bucket), the OIDC provider is
# bootstrap/account's (once per account); both come in as variables, and so does the account
# ID, so the policies render without calling AWS (`gitops hook-iam-lint` lints them offline).

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = var.project_name
      Purpose   = "gitops-pipeline"
      ManagedBy = "terraform"
    }
  }
}

data "aws_partition" "current" {}

locals {
  account   = var.account_id
  partition = data.aws_partition.current.partition
  owner     = split("/", var.repository)[0]
  repo_name = split("/", var.repository)[1]

  # GitHub's default sub claim: repo:OWNER/NAME:<context>, or with immutable IDs
  # repo:OWNER@OWNER_ID/NAME@REPO_ID:<context> (docs.github.com, "Immutable subject claims").
  repo_subject = (var.subject_format == "id"
    ? "repo:${local.owner}@${coalesce(var.github_owner_id, 0)}/${local.repo_name}@${coalesce(var.github_repository_id, 0)}"
    : "repo:${var.repository}"
  )

  # The one list of subjects: role => contexts it trusts. Nothing else names a subject.
  subjects = {
    plan    = ["pull_request", "ref:refs/heads/main"]
    apply   = ["environment:${var.apply_environment}"]
    destroy = ["environment:${var.nightly_environment}"]
  }
  trusted_subjects = { for role, contexts in local.subjects : role => [for c in contexts : "${local.repo_subject}:${c}"] }

  role_names = { for role in keys(local.subjects) : role => "${var.role_name_prefix}${var.project_name}-${role}" }

  # What a GitHub environment name may be, for both environments the roles trust.
  github_environment_pattern = "^[A-Za-z0-9._-]{1,255}$"
}

data "aws_iam_policy_document" "trust" {
  for_each = local.trusted_subjects

  statement {
    sid     = "GitHubActions${title(each.key)}"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = each.value
    }
  }
}

resource "aws_iam_role" "pipeline" {
  for_each = local.role_names

  name               = each.value
  description        = "GitHub Actions ${each.key} role of ${var.repository} (${var.project_name})"
  assume_role_policy = data.aws_iam_policy_document.trust[each.key].json
  # The apply job asks for 2 hours (role-duration-seconds: 7200 in terraform.yml), past its
  # 90-minute timeout, so a cancelled Terraform can still save its state; plans need one hour.
  # STS refuses an AssumeRoleWithWebIdentity asking for more than MaxSessionDuration.
  max_session_duration = each.key == "plan" ? 3600 : 7200

  tags = { Name = each.value, Environment = var.environment }

  lifecycle {
    # Tags added by hand (an owner, a cost centre) stay when make bootstrap runs again; no
    # policy reads a role's tags.
    ignore_changes = [tags]
    precondition {
      condition     = var.subject_format == "name" || (var.github_owner_id != null && var.github_repository_id != null)
      error_message = "subject_format = \"id\" needs github_owner_id and github_repository_id (make github-setup writes them); set subject_format = \"name\" for a repository whose tokens still carry the name-only subject."
    }
  }
}

locals {
  attachments = merge(
    { for role in ["plan", "apply", "destroy"] : "${role}-read" => { role = role, policy = "read" } },
    { "plan-state" = { role = "plan", policy = "state-read" } },
    { for role in ["apply", "destroy"] : "${role}-state" => { role = role, policy = "state-write" } },
    { for p in ["network", "data", "pass"] : "apply-${p}" => { role = "apply", policy = p } },
    { "destroy-destroy" = { role = "destroy", policy = "destroy" } },
  )
}

resource "aws_iam_policy" "pipeline" {
  for_each = local.policy_documents

  name        = "${var.role_name_prefix}${var.project_name}-${each.key}"
  description = "GitHub Actions pipeline of ${var.project_name}: ${each.key}"
  policy      = each.value

  tags = { Name = "${var.role_name_prefix}${var.project_name}-${each.key}" }

  lifecycle {
    ignore_changes = [tags]
  }
}

resource "aws_iam_role_policy_attachment" "pipeline" {
  for_each = local.attachments

  role       = aws_iam_role.pipeline[each.value.role].name
  policy_arn = aws_iam_policy.pipeline[each.value.policy].arn
}

# The instances' roles, made here with the operator's credentials: the pipeline creates no role.
module "instance_roles" {
  source = "../../modules/instance-roles"

  project_name = var.project_name
  region       = var.aws_region
  account_id   = var.account_id

  tags = { Environment = var.environment }
}
