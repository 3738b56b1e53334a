locals {
  route_table_ids = sort([for t in aws_route_table.this : t.id])
  peers           = { for k, m in local.members : k => sort([for o in var.members : o.private_ip if o.name != k]) }

  # One awsfailover config per member (TOML; jsonencode gives valid TOML strings and arrays).
  node_configs = {
    for k, m in local.members : k => join("\n", compact([
      "# awsfailover config for ${var.name} member ${k} (rendered by Terraform)",
      "region = ${jsonencode(local.region)}",
      var.endpoint_url == null ? "" : "endpoint_url = ${jsonencode(var.endpoint_url)}",
      "",
      "[node]",
      "eni_id = ${jsonencode(local.eni_ids[k])}",
      "",
      "[group]",
      "enis = ${jsonencode(sort(values(local.eni_ids)))}",
      "account_id = ${jsonencode(local.account)}",
      var.arbiter_table == null ? "" : "name = ${jsonencode(var.name)}",
      "",
      var.arbiter_table == null ? "" : "[arbiter]",
      var.arbiter_table == null ? "" : "table = ${jsonencode(var.arbiter_table)}",
      var.arbiter_table == null ? "" : "lease_ttl = ${var.arbiter_lease_ttl}",
      var.arbiter_table == null ? "" : "on_unreachable = ${jsonencode(var.arbiter_on_unreachable)}",
      "",
      var.event_sns_topic_arn == null && var.event_bus == null ? "" : "[events]",
      var.event_sns_topic_arn == null ? "" : "sns_topic_arn = ${jsonencode(var.event_sns_topic_arn)}",
      var.event_bus == null ? "" : "eventbridge_bus = ${jsonencode(var.event_bus)}",
      "",
      "[[instances]]",
      "name = ${jsonencode(var.instance_name)}",
      "vips = ${jsonencode(var.vips)}",
      "routes = ${jsonencode(var.routes)}",
      "route_tables = ${jsonencode(length(var.routes) > 0 ? local.route_table_ids : [])}",
      length(var.eips) == 0 ? "" : "eips = [${join(", ", [
        for n, e in local.eips :
        "{ allocation_id = ${jsonencode(local.eip_allocation_ids[n])}, private_ip = ${jsonencode(local.eip_private_ips[n])} }"
      ])}]",
      "",
    ]))
  }
}

output "eni_ids" {
  description = "Member name => ENI id (created or adopted)."
  value       = local.eni_ids
}

output "route_table_ids" {
  description = "Route table key => id of the tables the module created."
  value       = { for k, t in aws_route_table.this : k => t.id }
}

output "security_group_id" {
  description = "The group's VRRP security group (IP protocol 112 between members only)."
  value       = aws_security_group.vrrp.id
}

output "cidr_reservation_ids" {
  description = "IPv4 VIP => explicit subnet CIDR reservation id."
  value       = { for v, r in aws_ec2_subnet_cidr_reservation.vip : v => r.id }
}

output "eips" {
  description = "Elastic IP name => { allocation_id, public_ip } (created or adopted)."
  value = {
    for k, e in local.eips : k => {
      allocation_id = local.eip_allocation_ids[k]
      public_ip     = try(aws_eip.this[k].public_ip, null)
    }
  }
}

output "role_arn" {
  description = "ARN of the members' role (null when create_iam_role is false)."
  value       = try(aws_iam_role.this[0].arn, null)
}

output "instance_profile_name" {
  description = "Instance profile to launch the members with (null when create_iam_role is false)."
  value       = try(aws_iam_instance_profile.this[0].name, null)
}

output "iam_policy_json" {
  description = "The least-privilege policy, identical to what `awsfailover iam-policy --role` prints for this group."
  value       = data.aws_iam_policy_document.awsfailover.json
}

output "node_configs" {
  description = "Member name => awsfailover config file (TOML), ready for /etc/awsfailover/config.toml."
  value       = local.node_configs
}

output "keepalived_unicast" {
  description = "Member name => its unicast_src_ip and unicast_peer list for keepalived.conf."
  value       = { for k, m in local.members : k => { unicast_src_ip = m.private_ip, unicast_peer = local.peers[k] } }
}
