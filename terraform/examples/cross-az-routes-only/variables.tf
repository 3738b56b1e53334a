variable "region" {
  description = "AWS Region."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "Existing VPC."
  type        = string
}

variable "member_subnet_ids" {
  description = "Subnet of member a and of member b, in different AZs."
  type        = list(string)
}

variable "member_ips" {
  description = "Static primary IPv4 of member a and b."
  type        = list(string)
}

variable "overlay_cidrs" {
  description = "Overlay VIP(s) and networks outside the VPC CIDR, steered by routes."
  type        = list(string)
}

variable "client_subnet_ids" {
  description = "Client subnets sharing one route table."
  type        = list(string)
}
