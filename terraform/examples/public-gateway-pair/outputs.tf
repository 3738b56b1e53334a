output "node_configs" {
  description = "awsfailover config per gateway."
  value       = module.failover.node_configs
}

output "keepalived_unicast" {
  description = "unicast_src_ip / unicast_peer per gateway."
  value       = module.failover.keepalived_unicast
}

output "eni_ids" {
  description = "ENI per gateway."
  value       = module.failover.eni_ids
}

output "route_table_ids" {
  description = "The private route table."
  value       = module.failover.route_table_ids
}

output "eips" {
  description = "The floating public address."
  value       = module.failover.eips
}

output "iam_policy_json" {
  description = "The gateways' policy."
  value       = module.failover.iam_policy_json
}

output "role_arn" {
  description = "The gateways' role."
  value       = module.failover.role_arn
}
