# A dual-stack edge-router pair: an IPv4 and an IPv6 VIP, IPv4, IPv6 and prefix-list routes in
# one client route table.

provider "aws" {
  region = var.region
}

module "failover" {
  source = "../../"

  name   = "edge"
  vpc_id = var.vpc_id
  members = [
    { name = "a", subnet_id = var.appliance_subnet_id, private_ip = var.member_ips[0] },
    { name = "b", subnet_id = var.appliance_subnet_id, private_ip = var.member_ips[1] },
  ]
  vips   = var.vips
  routes = var.routes
  route_tables = {
    clients = { subnet_ids = var.client_subnet_ids }
  }
  tags = { Example = "dual-stack-pair" }
}
