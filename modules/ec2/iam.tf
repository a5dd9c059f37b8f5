data "aws_iam_policy_document" "read_db_secret" {
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.db_secret_arn]
  }
}

resource "aws_iam_role" "this" {
  name_prefix          = "${var.name}-web-"
  assume_role_policy   = var.assume_role_policy
  permissions_boundary = var.permissions_boundary_arn

  tags = merge({ Name = "${var.name}-web" }, var.tags)
}

resource "aws_iam_role_policy" "read_db_secret" {
  name   = "read-db-secret"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.read_db_secret.json
}

data "aws_partition" "current" {}

# Session Manager is the way in when boot fails: SSH is closed unless ssh_allowed_cidrs opens it.
# The agent on Amazon Linux 2023 reaches the SSM endpoints through the web tier's HTTPS egress.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name_prefix = "${var.name}-web-"
  role        = aws_iam_role.this.name

  tags = merge({ Name = "${var.name}-web" }, var.tags)
}
