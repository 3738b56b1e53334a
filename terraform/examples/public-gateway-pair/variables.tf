variable "region" {
  description = "AWS Region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "Existing VPC."
  type        = string
}

variable "public_subnet_id" {
  description = "Public subnet of both gateways (the VIP moves within it)."
  type        = string
}

variable "member_ips" {
  description = "Static primary IPv4 of gateway a and b."
  type        = list(string)
}

variable "vip" {
  description = "The private VIP the Elastic IP maps to; inside the public subnet."
  type        = string
}

variable "protected_cidrs" {
  description = "Networks private clients reach through the active gateway (e.g. the WireGuard peers)."
  type        = list(string)
}

variable "private_subnet_id" {
  description = "Private client subnet; gets its own route table."
  type        = string
}
