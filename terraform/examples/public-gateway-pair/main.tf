# A public gateway pair (WireGuard, an edge router): one floating public address. The VIP and
# its Elastic IP move together to the MASTER; private clients route the protected networks
# through the same VIP's ENI.

provider "aws" {
  region = var.region
}

module "failover" {
  source = "../../"

  name   = "edge"
  vpc_id = var.vpc_id
  members = [
    { name = "a", subnet_id = var.public_subnet_id, private_ip = var.member_ips[0] },
    { name = "b", subnet_id = var.public_subnet_id, private_ip = var.member_ips[1] },
  ]
  vips   = [var.vip]
  eips   = [{ name = "public" }] # maps to the VIP: moves with it
  routes = var.protected_cidrs
  route_tables = {
    private = { subnet_ids = [var.private_subnet_id] }
  }
  tags = { Example = "public-gateway-pair" }
}
