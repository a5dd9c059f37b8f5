# Permission policies of the pipeline's roles, as narrow as the stack allows, and meant to hold
# in an AWS account shared with other teams and other environments of this repository:
# - regional actions only in var.aws_region (aws:RequestedRegion, or a regional ARN);
# - creates only with the stack's Project tag (aws:RequestTag/Project; the root's provider puts
#   it on every resource through default_tags), each allowed on the type (EC2) or the names
#   (RDS) of what it creates only, so the request's tags never stand in for the tag of an
#   existing VPC, subnet or group the call names (RDS evaluates them for those too); a tag on
#   an EXISTING resource only where it already carries the stack's tag (aws:ResourceTag), so
#   nobody can adopt a neighbour's resource by tagging it; and the Project tag itself is never
#   changed or removed once set;
# - no description that answers with a secret (user data, VPN keys, signed URLs, ...) for what
#   is not the stack's: tests/test_bootstrap_iam.py finds them in AWS's service models;
# - names only in the stack's name space where a service has no tags to check: IAM path
#   /gitops/<project>/ and secrets gitops/<project>/ (modules/instance-roles), each ending in a
#   delimiter, so <project>-prod is never matched; RDS-managed secrets only of the stack's
#   database (the aws:rds:primaryDBInstanceArn tag RDS puts on them);
# - no IAM write at all: the instances' roles are this root's (made with the operator's
#   credentials); the apply role passes those two to EC2, nothing else;
# - the state bucket: the environment's one state object and its lock file, listing only them.
# Each document stays under IAM's 6,144-character limit for a managed policy
# (tests/test_bootstrap_iam.py checks the rendered size), and `make lint` runs parliament over
# every rendered document (gitops hook-iam-lint).

locals {
  # ARN prefix of each regional service the stack uses: arn:PARTITION:SERVICE:REGION:ACCOUNT
  regional_arn = {
    for s in ["ec2", "rds", "logs", "secretsmanager"] :
    s => "arn:${local.partition}:${s}:${var.aws_region}:${local.account}"
  }

  db_identifier = module.instance_roles.rds_identifier
  stack_db_arn  = module.instance_roles.rds_arn
  stack_secrets = "${local.regional_arn.secretsmanager}:secret:${module.instance_roles.secret_name_prefix}*"
  rds_secrets   = "${local.regional_arn.secretsmanager}:secret:rds!db-*"
  # RDS's exported logs, made by the stack first so they carry a retention (modules/db/rds.tf)
  stack_logs        = "${local.regional_arn.logs}:log-group:/aws/rds/instance/${local.db_identifier}/*"
  public_parameters = "arn:${local.partition}:ssm:${var.aws_region}::parameter/aws/service/*"
  state_bucket_arn  = "arn:${local.partition}:s3:::${var.state_bucket}"
  state_objects     = ["${local.state_bucket_arn}/${var.state_key}", "${local.state_bucket_arn}/${var.state_key}.tflock"]
  instance_roles    = values(module.instance_roles.role_arns)
  instance_profiles = [for arn in local.instance_roles : replace(arn, ":role/", ":instance-profile/")]
  # The VPC's default security group is adopted, not created (aws_default_security_group in
  # modules/vpc): it is the one existing resource the apply role may tag, and only with this Name.
  default_group_name = "${var.project_name}-default-deny"

  # EC2 creates the stack makes, each tagged at creation (tag-on-create with ec2:CreateAction),
  # by the type of what each makes, in two groups: no create of a group names an existing
  # resource of a type the group makes (a subnet, route table or group names its VPC; a NAT
  # gateway its subnet and address; an instance its subnet and groups), so the create's
  # statement, which checks the request's tags, never covers a resource the call only names.
  ec2_creates_by_group = [
    {
      "ec2:CreateSubnet"          = "subnet"
      "ec2:CreateRouteTable"      = "route-table"
      "ec2:CreateSecurityGroup"   = "security-group"
      "ec2:CreateInternetGateway" = "internet-gateway"
      "ec2:AllocateAddress"       = "elastic-ip"
    },
    {
      "ec2:CreateVpc"        = "vpc"
      "ec2:CreateNatGateway" = "natgateway"
      "ec2:RunInstances"     = "instance"
    },
  ]
  ec2_creates = flatten([for group in local.ec2_creates_by_group : keys(group)])
  # What could open a security group to traffic, or delete one: never on the adopted default group.
  ec2_group_openers = [
    "ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress",
    "ec2:ModifySecurityGroupRules", "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
    "ec2:UpdateSecurityGroupRuleDescriptionsEgress", "ec2:DeleteSecurityGroup",
  ]
  ec2_deletes = [
    "ec2:TerminateInstances", "ec2:DeleteVpc", "ec2:DeleteSubnet", "ec2:DeleteSecurityGroup",
    "ec2:DeleteInternetGateway", "ec2:DetachInternetGateway", "ec2:DeleteRouteTable",
    "ec2:DeleteRoute", "ec2:DisassociateRouteTable", "ec2:RevokeSecurityGroupIngress",
    "ec2:RevokeSecurityGroupEgress", "ec2:ReleaseAddress", "ec2:DisassociateAddress",
    "ec2:DeleteNatGateway",
  ]
  rds_deletes = ["rds:DeleteDBInstance", "rds:DeleteDBSubnetGroup", "rds:DeleteDBParameterGroup"]

  # The creates that also name an existing resource (Service Authorization Reference): the
  # subnet, route table and security group name their VPC, the NAT gateway its subnet and
  # address. Those are allowed by their own tag, never by the request's.
  ec2_parents = ["vpc", "subnet", "elastic-ip"]
  ec2_child_creates = [
    "ec2:CreateSubnet", "ec2:CreateRouteTable", "ec2:CreateSecurityGroup", "ec2:CreateNatGateway",
  ]
  # The RDS names the stack makes (modules/db: the fixed identifier, its groups' name_prefix).
  rds_stack_names = [
    "${local.regional_arn.rds}:db:${local.db_identifier}",
    "${local.regional_arn.rds}:pg:${local.db_identifier}-*",
    "${local.regional_arn.rds}:subgrp:${local.db_identifier}-*",
  ]

  policy_documents = {
    "read"        = data.aws_iam_policy_document.read.json
    "state-read"  = data.aws_iam_policy_document.state_read.json
    "state-write" = data.aws_iam_policy_document.state_write.json
    "network"     = data.aws_iam_policy_document.network.json
    "data"        = data.aws_iam_policy_document.data.json
    "pass"        = data.aws_iam_policy_document.pass.json
    "destroy"     = data.aws_iam_policy_document.destroy.json
  }
}

# --- Read: what a plan, a refresh and a destroy read (all three roles) ----------------------

data "aws_iam_policy_document" "read" {
  statement {
    sid = "DescribeInRegion"
    #parliament:skip=RESOURCE_STAR:Describe and List calls take no resource ARN (Service Authorization Reference); the region condition limits them and the Deny statements below keep user data out.
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

  # Descriptions whose answers carry a secret and take no resource ARN: user data (a launch
  # template's versions, spot requests' and spot fleets' launch specifications), VPN tunnels'
  # pre-shared keys, Verified Access OIDC client secrets, the signed URLs and upload policies
  # of image imports and bundle tasks, RDS option settings and proxy init queries. The stack
  # uses none of them, so nobody here reads any (tests/test_bootstrap_iam.py finds every such
  # answer in AWS's service models and fails on one allowed).
  statement {
    sid    = "NoSecretsThroughDescriptions"
    effect = "Deny"
    actions = [
      "ec2:DescribeLaunchTemplateVersions", "ec2:DescribeSpotInstanceRequests",
      "ec2:DescribeSpotFleetRequests", "ec2:DescribeVpnConnections",
      "ec2:DescribeVerifiedAccessTrustProviders", "ec2:DescribeBundleTasks",
      "ec2:DescribeConversionTasks", "ec2:DescribeImportImageTasks",
      "ec2:DescribeImportSnapshotTasks", "rds:DescribeOptionGroups",
      "rds:DescribeDBProxyTargetGroups",
    ]
    resources = ["*"]
  }

  # Only AWS's public parameters (the Amazon Linux AMI IDs), never the account's own: a
  # SecureString under the aws/ssm key is decryptable by every principal of the account.
  statement {
    sid = "PublicAmiParameters"
    #parliament:skip=RESOURCE_MISMATCH:AWS's public parameters carry no account in their ARN (arn:aws:ssm:REGION::parameter/aws/service/...), which parliament's account wildcard does not match.
    actions   = ["ssm:GetParameter", "ssm:GetParameters"]
    resources = [local.public_parameters]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  statement {
    sid       = "StackInstanceRoles"
    actions   = ["iam:GetRole", "iam:GetInstanceProfile"]
    resources = concat(local.instance_roles, local.instance_profiles)
  }

  statement {
    sid       = "StackSecretsMetadata"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"]
    resources = [local.stack_secrets]
  }

  statement {
    sid       = "StackLogGroupTags"
    actions   = ["logs:ListTagsForResource", "logs:ListTagsLogGroup"]
    resources = [local.stack_logs]
  }
}

# --- State: the plan role reads it, apply and destroy also write it and its lock object -------

data "aws_iam_policy_document" "state_read" {
  # The S3 backend lists the state's own key (HashiCorp's minimal policy for one state object),
  # so a missing state reads as "no state yet"; no other key of the bucket is listed.
  statement {
    sid       = "ListTheStateOnly"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]

    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = [var.state_key, "${var.state_key}.tflock"]
    }
  }

  statement {
    sid       = "ReadTheState"
    actions   = ["s3:GetObject"]
    resources = local.state_objects
  }
}

data "aws_iam_policy_document" "state_write" {
  source_policy_documents = [data.aws_iam_policy_document.state_read.json]

  statement {
    sid       = "WriteTheState"
    actions   = ["s3:PutObject"]
    resources = local.state_objects
  }

  # Only the lock file is ever deleted (use_lockfile); the state itself is overwritten, and the
  # bucket's versioning keeps every version.
  statement {
    sid       = "ReleaseTheLock"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.state_bucket_arn}/${var.state_key}.tflock"]
  }
}

# --- What no pipeline role may do, whatever else it is allowed (network, data, destroy) ------

data "aws_iam_policy_document" "guard" {
  # Tagging an existing resource that already belongs to a project never changes its Project:
  # neither hand a neighbour's resource to this stack, nor one of this stack's to a neighbour.
  statement {
    sid       = "NeverRetagAProject"
    effect    = "Deny"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags", "rds:AddTagsToResource", "rds:RemoveTagsFromResource"]
    resources = ["*"]

    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:TagKeys"
      values   = ["Project"]
    }
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Project"
      values   = ["false"]
    }
  }

  # DeleteTags without Tags deletes every tag of the resource, Project included, and names no
  # key for the statement above to see: the pipeline always names the keys it removes.
  statement {
    sid       = "NeverDeleteEveryTag"
    effect    = "Deny"
    actions   = ["ec2:DeleteTags"]
    resources = ["*"]

    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["true"]
    }
  }

  # The adopted default group (and any group a holder of this role tags with its Name) may lose
  # rules, never gain any, be deleted or be renamed into a group the stack may open.
  statement {
    sid       = "NeverOpenTheAdoptedDefaultGroup"
    effect    = "Deny"
    actions   = local.ec2_group_openers
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Name"
      values   = [local.default_group_name]
    }
  }

  statement {
    sid       = "NeverRenameTheAdoptedDefaultGroup"
    effect    = "Deny"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["*"]

    condition {
      test     = "ForAnyValue:StringEquals"
      variable = "aws:TagKeys"
      values   = ["Name"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Name"
      values   = [local.default_group_name]
    }
  }
}

# --- Apply: network and instances (EC2) -------------------------------------------------------

data "aws_iam_policy_document" "network" {
  source_policy_documents = [data.aws_iam_policy_document.guard.json]

  # Two statements (local.ec2_creates_by_group): each create on the type of what it makes only.
  statement {
    sid = "CreateOnlyTaggedNetworkParts"
    #parliament:skip=RESOURCE_MISMATCH:Each create is authorized once per resource type it names; this is the new subnet, route table, group, gateway or address (tagged in the request), the VPC they name is CreateInsideTheStack.
    actions   = keys(local.ec2_creates_by_group[0])
    resources = [for t in values(local.ec2_creates_by_group[0]) : "${local.regional_arn.ec2}:${t}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid = "CreateOnlyTaggedVpcsGatewaysInstances"
    #parliament:skip=RESOURCE_MISMATCH:Each create is authorized once per resource type it names; this is the new VPC, NAT gateway or instance (tagged in the request), the subnet, address and groups they name are CreateInsideTheStack and LaunchIntoTheStack.
    actions   = keys(local.ec2_creates_by_group[1])
    resources = [for t in values(local.ec2_creates_by_group[1]) : "${local.regional_arn.ec2}:${t}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid = "CreateInsideTheStack"
    #parliament:skip=RESOURCE_MISMATCH:This statement covers only the existing parents a create names (VPC, subnet, address, route table, group), each by its own tag; the new resource is the statement above.
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
    sid = "LaunchIntoTheStack"
    #parliament:skip=RESOURCE_MISMATCH:RunInstances is authorized once per resource type it names; this statement is the subnet and group part, the instance and image parts are their own statements.
    actions   = ["ec2:RunInstances"]
    resources = [for t in ["subnet", "security-group"] : "${local.regional_arn.ec2}:${t}/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid = "LaunchWithNewVolumesAndInterfaces"
    #parliament:skip=RESOURCE_MISMATCH:RunInstances is authorized once per resource type; this is the new volumes and interfaces part, created untagged by the call.
    actions   = ["ec2:RunInstances"]
    resources = [for t in ["network-interface", "volume"] : "${local.regional_arn.ec2}:${t}/*"]
  }

  # RunInstances can also attach an EXISTING interface (NetworkInterfaces[].NetworkInterfaceId):
  # the instance then runs with that interface's subnet, address and groups, another team's
  # included. An interface a launch creates is authorized as network-interface/* (its ID is not
  # known yet, Service Authorization Reference), an existing one by its ID (eni-...), which this
  # denies whatever its tags: the stack never launches with an interface it did not just create.
  statement {
    sid       = "NeverLaunchWithAnExistingInterface"
    effect    = "Deny"
    actions   = ["ec2:RunInstances"]
    resources = ["${local.regional_arn.ec2}:network-interface/eni-*"]
  }

  # A key pair lets whoever holds its private key in over SSH, and the stack needs none (Session
  # Manager is the way in; key_name is null). One the operator tagged with the stack's Project
  # (with their own credentials: the apply role can neither import nor tag a key pair) may be
  # named in key_name; another team's, or an untagged one, may not.
  statement {
    sid = "LaunchWithTheStacksKeyPairOnly"
    #parliament:skip=RESOURCE_MISMATCH:RunInstances is authorized once per resource type; this is the key pair part, named only when key_name is set.
    actions   = ["ec2:RunInstances"]
    resources = ["${local.regional_arn.ec2}:key-pair/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  statement {
    sid = "LaunchPublicImages"
    #parliament:skip=RESOURCE_MISMATCH:RunInstances is authorized once per resource type; this is the image part (AWS-owned AMIs carry no account in their ARN).
    actions   = ["ec2:RunInstances"]
    resources = ["arn:${local.partition}:ec2:${var.aws_region}::image/*"]
  }

  # Tags on create go through the create call's own authorization (ec2:CreateAction).
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

  # The VPC's default security group exists before Terraform adopts it (untagged). Tagging it
  # is the one tag on an existing resource the role may add, only on a group no project claims
  # and only with the adopted group's Name; the guard above then keeps such a group closed.
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
      test     = "StringEquals"
      variable = "aws:RequestTag/Name"
      values   = [local.default_group_name]
    }
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/Project"
      values   = ["true"]
    }
  }

  statement {
    sid = "ChangeOnlyTheStack"
    #parliament:skip=RESOURCE_STAR:Each action is limited by the resource tag it checks (aws:ResourceTag/Project), the ABAC form EC2 documents, and by the region; the guard statements deny retagging and opening the adopted group.
    actions = distinct(concat(local.ec2_deletes, local.ec2_group_openers, [
      "ec2:StopInstances", "ec2:StartInstances", "ec2:ModifyInstanceAttribute",
      "ec2:MonitorInstances", "ec2:UnmonitorInstances",
      "ec2:ModifyInstanceMetadataOptions", "ec2:AttachInternetGateway", "ec2:CreateRoute",
      "ec2:ReplaceRoute", "ec2:AssociateRouteTable", "ec2:ModifyVpcAttribute",
      "ec2:ModifySubnetAttribute", "ec2:AssociateAddress", "ec2:CreateTags", "ec2:DeleteTags",
    ]))
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }
}

# --- Apply: database, secrets, logs -------------------------------------------------------------

data "aws_iam_policy_document" "data" {
  source_policy_documents = [data.aws_iam_policy_document.guard.json]

  # Only the stack's own names: RDS evaluates a create's request tags (a key of the whole
  # action) for every resource the call names, so with "*" a tagged CreateDBInstance could name
  # any subnet or parameter group of the account.
  statement {
    sid = "RdsCreateOnlyTagged"
    actions = [
      "rds:CreateDBInstance", "rds:CreateDBSubnetGroup", "rds:CreateDBParameterGroup",
    ]
    resources = local.rds_stack_names

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/Project"
      values   = [var.project_name]
    }
  }

  # Tags in a create call are authorized as rds:AddTagsToResource on the new resource, which
  # RDS has no create-action key for: allowed only on the stack's own names (the database's
  # fixed identifier, its groups' prefix), only while untagged, and only with the stack's tag.
  statement {
    sid       = "RdsTagOnCreate"
    actions   = ["rds:AddTagsToResource"]
    resources = local.rds_stack_names

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

  # CreateDBInstance (and ModifyDBInstance) also name the option group (the engine's default,
  # untagged, never ours), the parameter group and the subnet group (the stack's, tagged).
  statement {
    sid = "RdsDefaultOptionGroup"
    #parliament:skip=RESOURCE_MISMATCH:CreateDBInstance and ModifyDBInstance are authorized once per resource type; this is the engine's default option group part, the db part is tag-checked in another statement.
    actions   = ["rds:CreateDBInstance", "rds:ModifyDBInstance"]
    resources = ["${local.regional_arn.rds}:og:default:*"]
  }

  statement {
    sid = "RdsChangeOnlyTheStack"
    actions = concat(local.rds_deletes, [
      "rds:CreateDBInstance", "rds:ModifyDBInstance", "rds:RebootDBInstance",
      "rds:ModifyDBSubnetGroup", "rds:ModifyDBParameterGroup", "rds:AddTagsToResource",
      "rds:RemoveTagsFromResource",
    ])
    resources = [for t in ["db", "pg", "subgrp"] : "${local.regional_arn.rds}:${t}:*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
  }

  # manage_master_user_password: RDS creates, tags, rotates and deletes its rds!db-... secret
  # with the caller's permissions. Only the stack database's (RDS tags it with
  # aws:rds:primaryDBInstanceArn); no GetSecretValue: the password is never readable here.
  statement {
    sid       = "RdsManagedSecretOfTheStack"
    actions   = ["secretsmanager:CreateSecret", "secretsmanager:TagResource"]
    resources = [local.rds_secrets]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/aws:rds:primaryDBInstanceArn"
      values   = [local.stack_db_arn]
    }
  }

  statement {
    sid = "RdsManagedSecretLifecycle"
    actions = [
      "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
      "secretsmanager:RotateSecret", "secretsmanager:TagResource",
    ]
    resources = [local.rds_secrets]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [local.stack_db_arn]
    }
  }

  statement {
    sid = "KeyOfTheManagedSecret"
    #parliament:skip=RESOURCE_STAR:RDS resolves the account's aws/secretsmanager key through DescribeKey (metadata only), whose key ID is not known before it exists; the region condition limits it.
    #checkov:skip=CKV_AWS_356:kms:DescribeKey reads key metadata only; RDS resolves the account's aws/secretsmanager key through it, whose ID is not known before it exists. The region condition limits it.
    actions   = ["kms:DescribeKey"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  # db_mode = "ec2": the stack's own secret (name prefix gitops/<project>/), written with a
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
    resources = [local.stack_logs]
  }
}

# --- Apply: the instances' roles, passed to EC2 and nothing else -------------------------------

data "aws_iam_policy_document" "pass" {
  statement {
    sid       = "PassTheInstanceRolesToEc2Only"
    actions   = ["iam:PassRole"]
    resources = local.instance_roles

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ec2.amazonaws.com"]
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
}

# --- Destroy-only: the nightly run deletes the stack and writes the state, creates nothing ----

data "aws_iam_policy_document" "destroy" {
  source_policy_documents = [data.aws_iam_policy_document.guard.json]

  statement {
    sid = "DeleteOnlyTheStack"
    #parliament:skip=RESOURCE_STAR:Each delete is limited by the resource tag it checks (aws:ResourceTag/Project) and by the region; the destroy role creates nothing and cannot tag.
    actions   = concat(local.ec2_deletes, local.rds_deletes)
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/Project"
      values   = [var.project_name]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [var.aws_region]
    }
  }

  statement {
    sid       = "DeleteTheStackSecrets"
    actions   = ["secretsmanager:DeleteSecret"]
    resources = [local.stack_secrets]
  }

  statement {
    sid       = "DeleteTheStackRdsSecret"
    actions   = ["secretsmanager:DeleteSecret"]
    resources = [local.rds_secrets]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/aws:rds:primaryDBInstanceArn"
      values   = [local.stack_db_arn]
    }
  }

  statement {
    sid       = "DeleteLogGroups"
    actions   = ["logs:DeleteLogGroup"]
    resources = [local.stack_logs]
  }
}
