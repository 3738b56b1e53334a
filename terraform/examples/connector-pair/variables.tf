variable "region" {
  description = "AWS Region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "Existing VPC."
  type        = string
}

variable "appliance_subnet_id" {
  description = "Subnet of both connectors (the VIP moves within it)."
  type        = string
}

variable "member_ips" {
  description = "Static primary IPv4 of connector a and b."
  type        = list(string)
}

variable "vip" {
  description = "The virtual IPv4 clients use; inside the appliance subnet."
  type        = string
}

variable "protected_cidrs" {
  description = "Networks reached through the active connector."
  type        = list(string)
}

variable "client_subnet_ids" {
  description = "Two client subnets; each gets its own route table."
  type        = list(string)
}
