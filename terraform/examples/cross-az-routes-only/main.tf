# A pair in two Availability Zones. Secondary IPs cannot leave their subnet, so there is no VIP:
# clients reach an "overlay" address outside the VPC CIDR that the route tables steer to the
# active member.

provider "aws" {
  region = var.region
}

module "failover" {
  source = "../../"

  name   = "cross-az"
  vpc_id = var.vpc_id
  members = [
    { name = "a", subnet_id = var.member_subnet_ids[0], private_ip = var.member_ips[0] },
    { name = "b", subnet_id = var.member_subnet_ids[1], private_ip = var.member_ips[1] },
  ]
  routes = var.overlay_cidrs
  route_tables = {
    clients = { subnet_ids = var.client_subnet_ids }
  }
  tags = { Example = "cross-az-routes-only" }
}
