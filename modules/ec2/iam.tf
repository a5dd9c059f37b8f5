data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "read_db_secret" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_secret_arn]
  }
}

resource "aws_iam_role" "this" {
  name_prefix        = "${var.name}-web-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = merge({ Name = "${var.name}-web" }, var.tags)
}

resource "aws_iam_role_policy" "read_db_secret" {
  name   = "read-db-secret"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.read_db_secret.json
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-web-"
  role        = aws_iam_role.this.name

  tags = merge({ Name = "${var.name}-web" }, var.tags)
}
