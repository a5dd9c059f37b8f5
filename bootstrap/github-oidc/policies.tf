# Permission policies of the pipeline's roles, as narrow as the stack allows:
# - regional actions only in var.aws_region (aws:RequestedRegion);
# - creates only with the stack's Project tag (aws:RequestTag/Project; the envs/seoul provider's
#   default_tags put it on every resource), changes and deletes only of resources carrying it
#   (aws:ResourceTag/Project), where the service supports those keys;
# - names by prefix where it does not (IAM roles and instance profiles, secrets, log groups);
# - the state bucket only under var.state_key_prefix.
# Each document stays under IAM's 6,144-character limit for a managed policy
# (tests/test_bootstrap_iam.py checks the rendered size).

locals {
  boundary_name = "${var.project_name}-instance-boundary"
  boundary_arn  = "arn:${local.partition}:iam::${local.account}:policy/${local.boundary_name}"

  # ARN prefix of each regional service the stack uses: arn:PARTITION:SERVICE:REGION:ACCOUNT
  regional_arn = {
    for s in ["ec2", "rds", "logs", "secretsmanager"] :
    s => "arn:${local.partition}:${s}:${var.aws_region}:${local.account}"
  }

  stack_roles   = "arn:${local.partition}:iam::${local.account}:role/${var.project_name}-*"
  stack_profile = "arn:${local.partition}:iam::${local.account}:instance-profile/${var.project_name}-*"
  stack_secrets = "${local.regional_arn.secretsmanager}:secret:${var.project_name}-*"
  rds_secrets   = "${local.regional_arn.secretsmanager}:secret:rds!db-*"
  stack_logs = [
    "${local.regional_arn.logs}:log-group:${var.project_name}-*",
    "${local.regional_arn.logs}:log-group:/${var.project_name}/*",
    # RDS's exported logs, made by the stack first so they carry a retention (modules/db/rds.tf)
    "${local.regional_arn.logs}:log-group:/aws/rds/instance/${var.project_name}-db/*",
  ]
  public_parameters = "arn:${local.partition}:ssm:${var.aws_region}::parameter/aws/service/*"
  ssm_core_policy   = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
  state_bucket_arn  = "arn:${local.partition}:s3:::${var.state_bucket}"
  pipeline_roles    = "arn:${local.partition}:iam::${local.account}:role/${var.role_name_prefix}${var.project_name}-*"

  # EC2 creates the stack makes, each tagged at creation (tag-on-create with ec2:CreateAction).
  ec2_creates = [
    "ec2:CreateVpc", "ec2:CreateSubnet", "ec2:CreateInternetGateway", "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup", "ec2:AllocateAddress", "ec2:CreateNatGateway",
    "ec2:CreateVpcEndpoint", "ec2:RunInstances",
  ]
  ec2_deletes = [
    "ec2:TerminateInstances", "ec2:DeleteVpc", "ec2:DeleteSubnet", "ec2:DeleteSecurityGroup",
    "ec2:DeleteInternetGateway", "ec2:DetachInternetGateway", "ec2:DeleteRouteTable",
    "ec2:DeleteRoute", "ec2:DisassociateRouteTable", "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress", "ec2:ReleaseAddress", "ec2:DisassociateAddress",
    "ec2:DeleteNatGateway", "ec2:DeleteVpcEndpoints",
  ]
  rds_deletes = ["rds:DeleteDBInstance", "rds:DeleteDBSubnetGroup", "rds:DeleteDBParameterGroup"]

  # The creates that also name an existing resource (Service Authorization Reference): the
  # subnet, route table and security group name their VPC, the NAT gateway its subnet and
  # address, an endpoint its VPC, subnets, route tables and groups. Those carry no request tag
  # (aws:RequestTag is a key of the new resource only), so they are allowed by their own tag.
  ec2_parents = ["vpc", "subnet", "elastic-ip", "route-table", "security-group"]
  ec2_child_creates = [
    "ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup",
    "ec2:CreateNatGateway", "ec2:CreateVpcEndpoint",
  ]

  policy_documents = {
    "read"        = data.aws_iam_policy_document.read.json
    "state-read"  = data.aws_iam_policy_document.state_read.json
    "state-write" = data.aws_iam_policy_document.state_write.json
    "network"     = data.aws_iam_policy_document.network.json
    "data"        = data.aws_iam_policy_document.data.json
    "iam"         = data.aws_iam_policy_document.iam.json
    "destroy"     = data.aws_iam_policy_document.destroy.json
  }
}

# --- Read: what a plan, a refresh and a destroy read (all three roles) ----------------------

data "aws_iam_policy_document" "read" {
  statement {
    sid = "DescribeInRegion"
    #checkov:skip=CKV_AWS_356:Describe and List calls of EC2, RDS and CloudWatch Logs take no resource ARN (Service Authorization Reference); the region condition limits them.
    actions = [
      "ec2:Describe*", "rds:Describe*", "rds:ListTagsForResource", "logs:DescribeLogGroups",
      "secretsmanager:GetRandomPassword",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  # User data may carry anything an instance was started with: readable only for the stack's
  # own instances, which a plan of the stack has to refresh.
  statement {
    sid       = "UserDataOnlyOfTheStack"
    effect    = "Deny"
    actions   = ["ec2:DescribeInstanceAttribute"]
    resources = ["*"]

    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  # A launch template's versions carry user data too, and DescribeLaunchTemplateVersions takes no
  # resource ARN: the stack uses no launch template, so nobody here reads any.
  statement {
    sid       = "NoLaunchTemplateUserData"
    effect    = "Deny"
    actions   = ["ec2:DescribeLaunchTemplateVersions"]
    resources = ["*"]
  }

  # Only AWS's public parameters (the Amazon Linux AMI IDs), never the account's own: a
  # SecureString under the aws/ssm key is decryptable by every principal of the account.
  statement {
    sid       = "PublicAmiParameters"
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = [local.public_parameters]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  statement {
    sid = "StackIdentities"
    actions = [
      "iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole", "iam:GetInstanceProfile",
    ]
    resources = [local.stack_roles, local.stack_profile]
  }

  statement {
    sid       = "StackSecretsMetadata"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"]
    resources = [local.stack_secrets]
  }

  statement {
    sid       = "StackLogGroupTags"
    actions   = ["logs:ListTagsForResource", "logs:ListTagsLogGroup"]
    resources = local.stack_logs
  }
}

# --- State: the plan role reads it, apply and destroy also write it and its lock object -------

data "aws_iam_policy_document" "state_read" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]
  }

  statement {
    sid       = "ReadStateUnderPrefix"
    actions   = ["s3:GetObject"]
    resources = ["${local.state_bucket_arn}/${var.state_key_prefix}*"]
  }
}

data "aws_iam_policy_document" "state_write" {
  source_policy_documents = [data.aws_iam_policy_document.state_read.json]

  statement {
    sid       = "WriteStateAndLockUnderPrefix"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.state_bucket_arn}/${var.state_key_prefix}*"]
  }
}

# --- Apply: network and instances (EC2) -------------------------------------------------------

data "aws_iam_policy_document" "network" {
  statement {
    sid       = "CreateOnlyTaggedForTheStack"
    actions   = local.ec2_creates
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  statement {
    sid       = "CreateInsideTheStack"
    actions   = local.ec2_child_creates
    resources = [for t in local.ec2_parents : "${local.regional_arn.ec2}:${t}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  # RunInstances also names the subnet, security groups, AMI, volumes and network interface;
  # only the instance itself must carry the tag (the statement above). The subnet and the
  # groups are the stack's own (tagged when made): no stack instance in another project's network.
  statement {
    sid       = "LaunchIntoTheStack"
    actions   = ["ec2:RunInstances"]
    resources = [for t in ["subnet", "security-group"] : "${local.regional_arn.ec2}:${t}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid       = "LaunchWithNewVolumesAndInterfaces"
    actions   = ["ec2:RunInstances"]
    resources = [for t in ["network-interface", "volume", "key-pair"] : "${local.regional_arn.ec2}:${t}/*"]
  }

  statement {
    sid       = "LaunchPublicImages"
    actions   = ["ec2:RunInstances"]
    resources = ["arn:${local.partition}:ec2:${var.aws_region}::image/*"]
  }

  statement {
    sid       = "TagOnCreate"
    actions   = ["ec2:CreateTags"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "ec2:CreateAction"
      values   = [for a in local.ec2_creates : trimprefix(a, "ec2:")]
    }
  }

  # The VPC's default security group exists before Terraform adopts it (untagged): tagging it
  # for the stack is the one tag on an existing resource the role may add, and only on a group
  # no project claims yet (else re-tagging another project's group would hand it to this one).
  statement {
    sid       = "AdoptDefaultSecurityGroup"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.regional_arn.ec2}:security-group/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Project"
      values   = ["true"]
    }
  }

  statement {
    sid = "ChangeOnlyTheStack"
    actions = concat(local.ec2_deletes, [
      "ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute",
      "ec2:MonitorInstances", "ec2:UnmonitorInstances",
      "ec2:ModifyInstanceMetadataOptions", "ec2:AttachInternetGateway", "ec2:CreateRoute",
      "ec2:ReplaceRoute", "ec2:AssociateRouteTable", "ec2:AuthorizeSecurityGroupIngress",
      "ec2:AuthorizeSecurityGroupEgress", "ec2:ModifySecurityGroupRules",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
      "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:ModifyVpcAttribute",
      "ec2:ModifySubnetAttribute", "ec2:AssociateAddress", "ec2:ModifyVpcEndpoint",
      "ec2:CreateTags", "ec2:DeleteTags",
    ])
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }
}

# --- Apply: database, secrets, logs -------------------------------------------------------------

data "aws_iam_policy_document" "data" {
  statement {
    sid = "RdsCreateOnlyTagged"
    actions = [
      "rds:CreateDBInstance", "rds:CreateDBSubnetGroup", "rds:CreateDBParameterGroup",
      "rds:AddTagsToResource",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  # CreateDBInstance (and ModifyDBInstance) also name the option group (the engine's default,
  # untagged, never ours), the parameter group and the subnet group: none carries a request tag,
  # so they are allowed by name. The db resource itself stays under the tag conditions.
  statement {
    sid     = "RdsInstanceGroups"
    actions = ["rds:CreateDBInstance", "rds:ModifyDBInstance"]
    resources = [
      "${local.regional_arn.rds}:og:default:*",
      "${local.regional_arn.rds}:pg:${var.project_name}-*",
      "${local.regional_arn.rds}:subgrp:${var.project_name}-*",
    ]
  }

  statement {
    sid = "RdsChangeOnlyTheStack"
    actions = concat(local.rds_deletes, [
      "rds:ModifyDBInstance", "rds:RebootDBInstance", "rds:ModifyDBSubnetGroup",
      "rds:ModifyDBParameterGroup", "rds:AddTagsToResource", "rds:RemoveTagsFromResource",
    ])
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  # manage_master_user_password: RDS creates, rotates and deletes its rds!db-... secret with
  # the caller's permissions. No GetSecretValue: the password is never readable here.
  statement {
    sid = "RdsManagedSecret"
    actions = [
      "secretsmanager:CreateSecret", "secretsmanager:TagResource", "secretsmanager:DeleteSecret",
      "secretsmanager:DescribeSecret", "secretsmanager:RotateSecret",
    ]
    resources = [local.rds_secrets]
  }

  statement {
    sid = "KeyOfTheManagedSecret"
    #checkov:skip=CKV_AWS_356:kms:DescribeKey reads key metadata only; RDS resolves the account's aws/secretsmanager key through it, whose ID is not known before it exists. The region condition limits it.
    actions   = ["kms:DescribeKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  # db_mode = "ec2": the stack's own secret (name prefix project_name-), written with a
  # write-only argument; the provider reads the version back.
  statement {
    sid = "StackSecrets"
    actions = [
      "secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecret", "secretsmanager:TagResource", "secretsmanager:UntagResource",
      "secretsmanager:GetSecretValue",
    ]
    resources = [local.stack_secrets]
  }

  statement {
    sid = "StackLogGroups"
    actions = [
      "logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
      "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup",
    ]
    resources = local.stack_logs
  }
}

# --- Apply: the instances' roles, always inside the boundary -----------------------------------

data "aws_iam_policy_document" "iam" {
  source_policy_documents = [data.aws_iam_policy_document.keep_boundary.json]

  statement {
    sid = "StackRolesOnlyWithTheBoundary"
    actions = [
      "iam:CreateRole", "iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
    ]
    resources = [local.stack_roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arn]
    }
  }

  statement {
    sid       = "AttachOnlyTheSsmCorePolicyInsideTheBoundary"
    actions   = ["iam:AttachRolePolicy"]
    resources = [local.stack_roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arn]
    }
    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values   = [local.ssm_core_policy]
    }
  }

  statement {
    sid = "StackRolesLifecycle"
    actions = [
      "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:UpdateRole",
      "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy",
    ]
    resources = [local.stack_roles]
  }

  statement {
    sid = "StackInstanceProfiles"
    actions = [
      "iam:CreateInstanceProfile", "iam:DeleteInstanceProfile", "iam:TagInstanceProfile",
      "iam:UntagInstanceProfile", "iam:AddRoleToInstanceProfile",
      "iam:RemoveRoleFromInstanceProfile",
    ]
    resources = [local.stack_profile]
  }

  statement {
    sid       = "PassStackRolesToEc2Only"
    actions   = ["iam:PassRole"]
    resources = [local.stack_roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
    }
  }

  # AddRoleToInstanceProfile checks iam:PassRole too (its dependent action), naming no service:
  # the stack's roles may go into the stack's instance profiles, and to no service but EC2.
  statement {
    sid       = "PutStackRolesIntoInstanceProfiles"
    actions   = ["iam:PassRole"]
    resources = [local.stack_roles]

    condition {
      test     = "Null"
      variable = "iam:PassedToService"
      values   = ["true"]
    }
  }

  statement {
    sid       = "RdsServiceLinkedRole"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/rds.amazonaws.com/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values   = ["rds.amazonaws.com"]
    }
  }

  statement {
    sid       = "NeverCreateOrReboundWithoutIt"
    effect    = "Deny"
    actions   = ["iam:CreateRole", "iam:PutRolePermissionsBoundary"]
    resources = ["*"]

    condition {
      test     = "StringNotEquals"
      variable = "iam:PermissionsBoundary"
      values   = [local.boundary_arn]
    }
  }

  statement {
    sid       = "NeverTouchThePipelineOrTheBoundary"
    effect    = "Deny"
    actions   = ["iam:*"]
    resources = [local.pipeline_roles, local.boundary_arn]
  }
}

# --- Destroy-only: the nightly run deletes the stack and writes the state, creates nothing ----

data "aws_iam_policy_document" "destroy" {
  source_policy_documents = [data.aws_iam_policy_document.keep_boundary.json]

  statement {
    sid       = "DeleteOnlyTheStack"
    actions   = concat(local.ec2_deletes, local.rds_deletes)
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid       = "DeleteSecrets"
    actions   = ["secretsmanager:DeleteSecret"]
    resources = [local.stack_secrets, local.rds_secrets]
  }

  statement {
    sid       = "DeleteLogGroups"
    actions   = ["logs:DeleteLogGroup"]
    resources = local.stack_logs
  }

  statement {
    sid = "DeleteStackRoles"
    actions = [
      "iam:DeleteRole", "iam:DeleteRolePolicy", "iam:DetachRolePolicy",
      "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile",
    ]
    resources = [local.stack_roles, local.stack_profile]
  }
}

# In both documents that let a role delete the stack's roles (iam, destroy): nobody a pipeline
# role acts for may take the boundary off a role, whatever else its policies allow.
data "aws_iam_policy_document" "keep_boundary" {
  statement {
    sid       = "NeverRemoveTheBoundary"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = ["*"]
  }
}

# --- The boundary of the stack's own roles -----------------------------------------------------

data "aws_iam_policy_document" "instance_boundary" {
  statement {
    sid       = "ReadTheStackDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.stack_secrets]
  }

  # rds!db-<uuid> names no database: every RDS-managed secret of the account matches the ARN.
  # RDS tags its secret with the instance it belongs to; only the stack's database's is readable
  # (else any role the apply role creates could read every RDS master password in the account).
  statement {
    sid       = "ReadTheStackRdsMasterSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [local.rds_secrets]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = ["${local.regional_arn.rds}:db:${var.project_name}-db"]
    }
  }

  statement {
    sid = "SessionManagerCore"
    #checkov:skip=CKV_AWS_111:The boundary caps the instance roles; these agent channel writes take no resource ARN, and the roles' own policies grant less.
    #checkov:skip=CKV_AWS_356:The SSM agent's channel calls (ssmmessages, ec2messages, UpdateInstanceInformation) take no resource ARN; AmazonSSMManagedInstanceCore grants them on * too.
    actions = [
      "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel", "ec2messages:AcknowledgeMessage",
      "ec2messages:DeleteMessage", "ec2messages:FailMessage", "ec2messages:GetEndpoint",
      "ec2messages:GetMessages", "ec2messages:SendReply",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "WriteTheStackLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = [for arn in local.stack_logs : "${arn}:*"]
  }
}
