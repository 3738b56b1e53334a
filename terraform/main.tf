# A failover group's VPC side: ENIs, VRRP security group, VIP reservations, route tables with
# routes to the initial master, Elastic IPs associated with it, and the least-privilege role. awsfailover moves VIPs and route
# targets at run time; nothing here fights it (see the ignore_changes below).

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

data "aws_subnet" "member" {
  for_each = toset([for m in var.members : m.subnet_id])
  id       = each.value
}

locals {
  members        = { for m in var.members : m.name => m }
  initial_master = coalesce(var.initial_master, var.members[0].name)
  created        = { for k, m in local.members : k => m if m.eni_id == null }
  eni_ids = {
    for k, m in local.members : k => (m.eni_id != null ? m.eni_id : aws_network_interface.member[k].id)
  }
  vips4      = [for v in var.vips : v if !strcontains(v, ":")]
  vips6      = [for v in var.vips : v if strcontains(v, ":")]
  vip_subnet = length(var.vips) > 0 ? data.aws_subnet.member[var.members[0].subnet_id] : null

  # One aws_route per (table, destination); the key is stable across plans.
  table_routes = {
    for pair in setproduct(keys(var.route_tables), var.routes) : "${pair[0]} ${pair[1]}" => {
      table = pair[0]
      dest  = pair[1]
    }
  }

  eips = { for e in var.eips : e.name => e }
  eip_allocation_ids = {
    for k, e in local.eips : k => (e.allocation_id != null ? e.allocation_id : aws_eip.this[k].allocation_id)
  }
  # what each member's awsfailover maps the Elastic IP to on MASTER
  eip_private_ips = { for k, e in local.eips : k => coalesce(e.private_ip, try(local.vips4[0], "primary")) }

  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  role_name = "${var.name}-awsfailover"
  arn_ec2   = "arn:${local.partition}:ec2:${local.region}:${local.account}"
  # PutEvents is authorised on the bus's ARN; a bare name is this account's bus
  event_bus_arn = var.event_bus == null ? null : (
    startswith(var.event_bus, "arn:") ? var.event_bus : "arn:${local.partition}:events:${local.region}:${local.account}:event-bus/${var.event_bus}"
  )
  arbiter_table_arn = var.arbiter_table == null ? null : "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${var.arbiter_table}"
  tags              = merge(var.tags, { "awsfailover-group" = var.name })
}

# The lease arbiter's table: one item per lease ("<group>/<instance>"), a few hundred bytes,
# about one write per second per pair. On demand: a pair costs its requests, nothing idle.
resource "aws_dynamodb_table" "leases" {
  #checkov:skip=CKV_AWS_119:leases hold ENI ids and counters only; the AWS-owned key encrypts them at rest
  count                       = var.create_arbiter_table && var.arbiter_table != null ? 1 : 0
  name                        = var.arbiter_table
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "lease_id"
  deletion_protection_enabled = true

  attribute {
    name = "lease_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = local.tags
}

resource "aws_security_group" "vrrp" {
  name        = "${var.name}-vrrp"
  description = "awsfailover group ${var.name}: VRRP between members"
  vpc_id      = var.vpc_id
  tags        = merge(local.tags, { Name = "${var.name}-vrrp" })
}

# VRRP is IP protocol 112 and unicast in a VPC; only members (this group) may send it.
# aws_security_group_rule, not aws_vpc_security_group_ingress_rule: the latter cannot express
# a port-less protocol rule the way every backend accepts it (see the module README).
resource "aws_security_group_rule" "vrrp_in" {
  type                     = "ingress"
  description              = "VRRP from members of this group"
  security_group_id        = aws_security_group.vrrp.id
  protocol                 = "112"
  from_port                = 0
  to_port                  = 0
  source_security_group_id = aws_security_group.vrrp.id
}

resource "aws_security_group_rule" "vrrp_out" {
  type                     = "egress"
  description              = "VRRP to members of this group"
  security_group_id        = aws_security_group.vrrp.id
  protocol                 = "112"
  from_port                = 0
  to_port                  = 0
  source_security_group_id = aws_security_group.vrrp.id
}

resource "aws_network_interface" "member" {
  for_each          = local.created
  description       = "awsfailover ${var.name} member ${each.key}"
  subnet_id         = each.value.subnet_id
  private_ips       = [each.value.private_ip]
  security_groups   = concat([aws_security_group.vrrp.id], each.value.security_group_ids)
  source_dest_check = false # it forwards traffic addressed to the protected routes
  tags              = merge(local.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    # awsfailover adds and removes the VIPs (secondary addresses) at run time.
    ignore_changes = [private_ips, private_ip_list, private_ips_count, ipv6_addresses, ipv6_address_list, ipv6_address_count]

    precondition {
      condition = alltrue([
        for v in local.vips4 :
        cidrhost("${v}/${split("/", data.aws_subnet.member[each.value.subnet_id].cidr_block)[1]}", 0) == cidrhost(data.aws_subnet.member[each.value.subnet_id].cidr_block, 0)
      ])
      error_message = "Every IPv4 VIP must lie in the members' subnet CIDR."
    }
    precondition {
      condition = length(local.vips6) == 0 || alltrue([
        for v in local.vips6 :
        data.aws_subnet.member[each.value.subnet_id].ipv6_cidr_block != null &&
        try(cidrhost("${v}/${split("/", data.aws_subnet.member[each.value.subnet_id].ipv6_cidr_block)[1]}", 0) == cidrhost(data.aws_subnet.member[each.value.subnet_id].ipv6_cidr_block, 0), false)
      ])
      error_message = "Every IPv6 VIP must lie in the members' subnet IPv6 CIDR."
    }
  }
}

resource "aws_ec2_subnet_cidr_reservation" "vip" {
  for_each         = var.reserve_vips ? toset(local.vips4) : toset([])
  subnet_id        = var.members[0].subnet_id
  cidr_block       = "${each.value}/32"
  reservation_type = "explicit"
  description      = "awsfailover ${var.name} VIP"
}

resource "aws_route_table" "this" {
  for_each = var.route_tables
  vpc_id   = var.vpc_id
  tags     = merge(local.tags, { Name = "${var.name}-${each.key}" })
}

resource "aws_route_table_association" "this" {
  for_each = merge([
    for k, t in var.route_tables : { for s in t.subnet_ids : "${k} ${s}" => { table = k, subnet = s } }
  ]...)
  route_table_id = aws_route_table.this[each.value.table].id
  subnet_id      = each.value.subnet
}

resource "aws_route" "protected" {
  for_each                    = local.table_routes
  route_table_id              = aws_route_table.this[each.value.table].id
  destination_cidr_block      = !startswith(each.value.dest, "pl-") && !strcontains(each.value.dest, ":") ? each.value.dest : null
  destination_ipv6_cidr_block = strcontains(each.value.dest, ":") ? each.value.dest : null
  destination_prefix_list_id  = startswith(each.value.dest, "pl-") ? each.value.dest : null
  network_interface_id        = local.eni_ids[local.initial_master]

  lifecycle {
    # The MASTER's awsfailover re-targets the route; a later apply must not undo a failover.
    ignore_changes = [network_interface_id]
  }
}

# The initial association lives on the aws_eip itself, not in an aws_eip_association: an
# association has its own id, which a failover replaces (AssociateAddress makes a new one), so
# a separate association resource would vanish from state and the next apply would recreate
# it on the initial master, undoing the failover. The address is read by allocation id.
resource "aws_eip" "this" {
  #checkov:skip=CKV2_AWS_19:attached to the MASTER's ENI (network_interface), not to an instance this module manages
  for_each = { for k, e in local.eips : k => e if e.allocation_id == null }
  domain   = "vpc"
  # The initial master's primary address: always held, whatever holds the VIP before
  # keepalived's first election. awsfailover maps it to private_ip on MASTER.
  network_interface         = local.eni_ids[local.initial_master]
  associate_with_private_ip = local.members[local.initial_master].private_ip
  tags                      = merge(local.tags, { Name = "${var.name}-${each.key}" })

  lifecycle {
    # The MASTER's awsfailover reassociates the address; a later apply must not undo a failover.
    ignore_changes = [network_interface, associate_with_private_ip, instance]
  }
}
