# The same least-privilege policy `awsfailover iam-policy` prints for this group (a test
# compares the two): Describe (engine and doctor) on "*", address moves on the members' ENIs, ReplaceRoute on the
# group's route tables, AssociateAddress on the Elastic IPs and the members' ENIs, and the
# self-check check-iam needs, on the role itself.

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "Ec2AssumesTheApplianceRole"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.${data.aws_partition.current.dns_suffix}"]
    }
  }
}

data "aws_iam_policy_document" "awsfailover" {
  # What the engine reads, then what `awsfailover doctor` reads on the node with this role.
  statement {
    sid = "ObserveNetworkState"
    actions = concat([
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeRouteTables",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:GetSubnetCidrReservations",
      "ec2:DescribeInstances",
      "ec2:DescribeInstanceTypes",
    ], length(var.eips) > 0 ? ["ec2:DescribeAddresses"] : [])
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = length(local.vips4) > 0 ? [1] : []
    content {
      sid       = "MoveIpv4VipsBetweenGroupEnis"
      actions   = ["ec2:AssignPrivateIpAddresses"]
      resources = sort([for k, id in local.eni_ids : "${local.arn_ec2}:network-interface/${id}"])
    }
  }

  dynamic "statement" {
    for_each = length(local.vips6) > 0 ? [1] : []
    content {
      sid       = "MoveIpv6VipsBetweenGroupEnis"
      actions   = ["ec2:AssignIpv6Addresses", "ec2:UnassignIpv6Addresses"]
      resources = sort([for k, id in local.eni_ids : "${local.arn_ec2}:network-interface/${id}"])
    }
  }

  dynamic "statement" {
    for_each = length(var.routes) > 0 && length(var.route_tables) > 0 ? [1] : []
    content {
      sid       = "SteerRoutesToGroupEnis"
      actions   = ["ec2:ReplaceRoute"]
      resources = sort([for k, t in aws_route_table.this : "${local.arn_ec2}:route-table/${t.id}"])
    }
  }

  # AssociateAddress is authorised on the Elastic IP and on the ENI it maps to: both lists.
  dynamic "statement" {
    for_each = length(var.eips) > 0 ? [1] : []
    content {
      sid     = "ReassociateElasticIpsToGroupEnis"
      actions = ["ec2:AssociateAddress"]
      resources = sort(concat(
        [for k, id in local.eip_allocation_ids : "${local.arn_ec2}:elastic-ip/${id}"],
        [for k, id in local.eni_ids : "${local.arn_ec2}:network-interface/${id}"],
      ))
    }
  }

  # The agent's events ([events]): the configured topic and bus only.
  dynamic "statement" {
    for_each = var.event_sns_topic_arn == null ? [] : [1]
    content {
      sid       = "PublishEventsToTopic"
      actions   = ["sns:GetTopicAttributes", "sns:Publish"]
      resources = [var.event_sns_topic_arn]
    }
  }

  dynamic "statement" {
    for_each = var.event_bus == null ? [] : [1]
    content {
      sid       = "PutEventsOnBus"
      actions   = ["events:DescribeEventBus", "events:PutEvents"]
      resources = [local.event_bus_arn]
    }
  }

  # The lease arbiter ([arbiter]): this group's items of the table only.
  dynamic "statement" {
    for_each = var.arbiter_table == null ? [] : [1]
    content {
      sid       = "HoldTheGroupsLeases"
      actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
      resources = [local.arbiter_table_arn]
      condition {
        test     = "ForAllValues:StringLike"
        variable = "dynamodb:LeadingKeys"
        values   = ["${var.name}/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.arbiter_table == null ? [] : [1]
    content {
      sid       = "DescribeTheLeaseTable"
      actions   = ["dynamodb:DescribeTable"]
      resources = [local.arbiter_table_arn]
    }
  }

  statement {
    sid       = "PreflightSelfCheck"
    actions   = ["iam:GetRole", "iam:SimulatePrincipalPolicy"]
    resources = ["arn:${local.partition}:iam::${local.account}:role${var.role_path}${local.role_name}"]
  }
}

resource "aws_iam_role" "this" {
  count                = var.create_iam_role ? 1 : 0
  name                 = local.role_name
  path                 = var.role_path
  description          = "awsfailover group ${var.name}: moves its VIPs and routes"
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

resource "aws_iam_role_policy" "this" {
  count  = var.create_iam_role ? 1 : 0
  name   = "awsfailover"
  role   = aws_iam_role.this[0].id
  policy = data.aws_iam_policy_document.awsfailover.json
}

resource "aws_iam_instance_profile" "this" {
  count = var.create_iam_role ? 1 : 0
  name  = local.role_name
  path  = var.role_path
  role  = aws_iam_role.this[0].name
  tags  = local.tags
}
