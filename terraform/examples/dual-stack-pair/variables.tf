variable "region" {
  description = "AWS Region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "Existing dual-stack VPC."
  type        = string
}

variable "appliance_subnet_id" {
  description = "Dual-stack subnet of both routers."
  type        = string
}

variable "member_ips" {
  description = "Static primary IPv4 of router a and b."
  type        = list(string)
}

variable "vips" {
  description = "One IPv4 and one IPv6 VIP inside the appliance subnet."
  type        = list(string)
}

variable "routes" {
  description = "Protected destinations: IPv4 and IPv6 CIDRs and prefix-list ids."
  type        = list(string)
}

variable "client_subnet_ids" {
  description = "Client subnets sharing one route table."
  type        = list(string)
}
