# The roles the stack's instances run with, defined once. `make bootstrap` creates them with the
# operator's credentials (bootstrap/github-oidc calls this module), so the pipeline's roles
# manage no IAM at all: the apply role only passes these two roles to EC2. A root whose roles
# nobody else makes (envs/localstack, an emulator with dummy credentials) calls it with
# create_roles = true; a root whose roles the bootstrap made calls it with false, for the names.
#
# Every name here is in a name space of the stack's own: IAM path /gitops/<project_name>/ and
# secret names gitops/<project_name>/..., both ending in a delimiter, so `study-seoul` never
# matches `study-seoul-prod` (whose path is /gitops/study-seoul-prod/).

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  iam_path  = "/gitops/${var.project_name}/"
  names     = { web = "${var.project_name}-web", db = "${var.project_name}-db" }
  role_arns = {
    for tier, name in local.names : tier => "arn:${local.partition}:iam::${var.account_id}:role${local.iam_path}${name}"
  }
  secret_prefix  = "gitops/${var.project_name}/"
  secrets_arn    = "arn:${local.partition}:secretsmanager:${var.region}:${var.account_id}:secret"
  rds_identifier = "${var.project_name}-db"
  rds_arn        = "arn:${local.partition}:rds:${var.region}:${var.account_id}:db:${local.rds_identifier}"
  roles          = var.create_roles ? local.names : {}
}

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "tier" {
  for_each = local.names

  # ec2 mode: the app user's own secret (modules/db names it under the stack's prefix). Both
  # instances read it; nothing else of the account's.
  statement {
    sid       = "ReadTheStackSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["${local.secrets_arn}:${local.secret_prefix}*"]
  }

  # rds mode: RDS names its secret rds!db-<uuid>, which names no database, so the ARN matches
  # every RDS-managed secret of the account. RDS tags its secret with the instance it belongs
  # to: only the stack database's is readable. The web boot reads it to create the app's user.
  dynamic "statement" {
    for_each = each.key == "web" ? [1] : []

    content {
      sid       = "ReadTheStackRdsMasterSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = ["${local.secrets_arn}:rds!db-*"]

      condition {
        test     = "StringEquals"
        variable = "aws:ResourceTag/aws:rds:primaryDBInstanceArn"
        values   = [local.rds_arn]
      }
    }
  }

  # Session Manager is the way into the web instance when its boot fails: SSH is closed unless
  # ssh_allowed_cidrs opens it. The agent registers and opens its message channels, nothing
  # more (the set AWS's own AWSCloud9SSMInstanceProfile grants). AmazonSSMManagedInstanceCore
  # is not attached: it also reads every SSM parameter and document of the account
  # (ssm:GetParameter on "*"), another team's SecureStrings included.
  dynamic "statement" {
    for_each = each.key == "web" ? [1] : []

    content {
      sid = "SessionManagerAgent"
      actions = [
        "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.roles

  name                 = each.value
  path                 = local.iam_path
  description          = "${each.key} instance of ${var.project_name}"
  assume_role_policy   = data.aws_iam_policy_document.assume_ec2.json
  max_session_duration = 3600

  tags = merge({ Name = each.value }, var.tags)

  lifecycle {
    ignore_changes = [tags] # tags added by hand stay when make bootstrap runs again
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.roles

  name   = "read-stack-secrets"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.tier[each.key].json
}

resource "aws_iam_instance_profile" "this" {
  for_each = local.roles

  name = each.value
  path = local.iam_path
  role = aws_iam_role.this[each.key].name

  tags = merge({ Name = each.value }, var.tags)

  lifecycle {
    ignore_changes = [tags]
  }
}
