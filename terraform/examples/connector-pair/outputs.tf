output "node_configs" {
  description = "awsfailover config per connector."
  value       = module.failover.node_configs
}

output "keepalived_unicast" {
  description = "unicast_src_ip / unicast_peer per connector."
  value       = module.failover.keepalived_unicast
}

output "eni_ids" {
  description = "ENI per connector."
  value       = module.failover.eni_ids
}

output "route_table_ids" {
  description = "The client route tables."
  value       = module.failover.route_table_ids
}

output "iam_policy_json" {
  description = "The members' policy."
  value       = module.failover.iam_policy_json
}

output "role_arn" {
  description = "The members' role."
  value       = module.failover.role_arn
}
