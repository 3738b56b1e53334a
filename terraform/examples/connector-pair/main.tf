# A same-subnet connector pair (a ZTNA connector or gateway pair): one IPv4 VIP, and the routes
# to the protected network in the route tables of two client subnets.

provider "aws" {
  region = var.region
}

module "failover" {
  source = "../../"

  name   = "connector"
  vpc_id = var.vpc_id
  members = [
    { name = "a", subnet_id = var.appliance_subnet_id, private_ip = var.member_ips[0] },
    { name = "b", subnet_id = var.appliance_subnet_id, private_ip = var.member_ips[1] },
  ]
  vips   = [var.vip]
  routes = var.protected_cidrs
  route_tables = {
    clients-a = { subnet_ids = [var.client_subnet_ids[0]] }
    clients-b = { subnet_ids = [var.client_subnet_ids[1]] }
  }
  # the agent's events: an SNS topic and the account's default EventBridge bus
  event_sns_topic_arn = aws_sns_topic.events.arn
  event_bus           = "default"
  # the lease arbiter: a split brain moves nothing on the node without the lease
  arbiter_table        = "awsfailover-leases"
  create_arbiter_table = true
  tags                 = { Example = "connector-pair" }
}

resource "aws_sns_topic" "events" {
  name              = "awsfailover-connector-events"
  kms_master_key_id = "alias/aws/sns"
  tags              = { Example = "connector-pair" }
}
