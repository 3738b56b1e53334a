variable "name" {
  description = "Name of the failover group; prefixes every resource name and tag."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,40}$", var.name))
    error_message = "name must be 1-41 letters, digits or dashes, starting with a letter or digit."
  }
}

variable "vpc_id" {
  description = "The existing VPC the group lives in."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "members" {
  description = <<-EOT
    The group's appliances, at least two. For each: a name, the subnet of its ENI and the
    ENI's static primary private IPv4. The module creates the ENI (source/destination check
    off), unless eni_id adopts an existing one. security_group_ids are added to the group's
    VRRP security group on created ENIs.
  EOT
  type = list(object({
    name               = string
    subnet_id          = string
    private_ip         = string
    eni_id             = optional(string)
    security_group_ids = optional(list(string), [])
  }))

  validation {
    condition     = length(var.members) >= 2
    error_message = "A failover group needs at least two members."
  }
  validation {
    condition     = length(distinct([for m in var.members : m.name])) == length(var.members)
    error_message = "Member names must be unique."
  }
  validation {
    condition     = alltrue([for m in var.members : can(cidrhost("${m.private_ip}/32", 0))])
    error_message = "Each member's private_ip must be an IPv4 address."
  }
  validation {
    condition     = alltrue([for m in var.members : can(regex("^subnet-[0-9a-f]{8,17}$", m.subnet_id))])
    error_message = "Each member's subnet_id must look like subnet-0123456789abcdef0."
  }
  validation {
    condition     = alltrue([for m in var.members : m.eni_id == null || can(regex("^eni-[0-9a-f]{8,17}$", m.eni_id))])
    error_message = "An adopted eni_id must look like eni-0123456789abcdef0."
  }
  validation {
    # A VIP is a secondary private IP, and those never leave their subnet: with VIPs every
    # member must share one subnet (across AZs, fail over with routes only).
    condition     = length(var.vips) == 0 || length(distinct([for m in var.members : m.subnet_id])) == 1
    error_message = "With vips, every member must be in the same subnet; across AZs use routes only (vips = [])."
  }
}

variable "vips" {
  description = "Virtual IPs (IPv4 and/or IPv6) that move to the MASTER's ENI; empty for a routes-only group."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for v in var.vips : can(cidrhost(strcontains(v, ":") ? "${v}/128" : "${v}/32", 0))])
    error_message = "Each VIP must be a plain IPv4 or IPv6 address (no prefix length)."
  }
}

variable "routes" {
  description = "Protected destinations (IPv4 CIDR, IPv6 CIDR or prefix-list id) pointed at the MASTER's ENI."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for r in var.routes : can(regex("^pl-[0-9a-f]{8,17}$", r)) || can(cidrnetmask(r)) || (strcontains(r, ":") && can(cidrhost(r, 0)))])
    error_message = "Each route must be a CIDR (IPv4 or IPv6) or a prefix-list id (pl-...)."
  }
  validation {
    condition     = alltrue([for r in var.routes : startswith(r, "pl-") || try(cidrhost(r, 0) == lower(split("/", r)[0]), false)])
    error_message = "Each route CIDR must be a network address (e.g. 192.168.50.0/24, not 192.168.50.1/24)."
  }
}

variable "eips" {
  description = <<-EOT
    Elastic IPs that follow the MASTER (a public gateway pair). Each creates an aws_eip, or
    adopts an existing allocation_id. private_ip is the address of the MASTER's ENI it maps to:
    default the first IPv4 VIP (the Elastic IP then moves with the VIP), or "primary" for each
    member's own primary address (a pair across AZs). A created address is first associated
    with the initial master's primary address; awsfailover maps it to private_ip on the first
    MASTER. An adopted one is left as it is until then.
  EOT
  type = list(object({
    name          = string
    allocation_id = optional(string)
    private_ip    = optional(string)
  }))
  default = []

  validation {
    condition     = length(distinct([for e in var.eips : e.name])) == length(var.eips)
    error_message = "Elastic IP names must be unique."
  }
  validation {
    condition     = alltrue([for e in var.eips : e.allocation_id == null || can(regex("^eipalloc-[0-9a-f]{8,17}$", e.allocation_id))])
    error_message = "An adopted allocation_id must look like eipalloc-0123456789abcdef0."
  }
  validation {
    condition     = alltrue([for e in var.eips : e.private_ip == null || e.private_ip == "primary" || can(cidrhost("${coalesce(e.private_ip, "x")}/32", 0))])
    error_message = "An Elastic IP's private_ip is an IPv4 address or \"primary\"."
  }
  validation {
    condition     = alltrue([for e in var.eips : e.private_ip != null || length([for v in var.vips : v if !strcontains(v, ":")]) > 0])
    error_message = "An Elastic IP without private_ip maps to the first IPv4 VIP: set vips, or private_ip = \"primary\"."
  }
}

variable "route_tables" {
  description = "Route tables to create, by key, each explicitly associated with the given subnets; every route goes into every table."
  type = map(object({
    subnet_ids = list(string)
  }))
  default = {}

  validation {
    condition     = alltrue([for t in values(var.route_tables) : length(t.subnet_ids) > 0])
    error_message = "Each route table needs at least one subnet to associate (the main table is never used)."
  }
}

variable "initial_master" {
  description = "Member name whose ENI the routes point at on creation (default: the first member). Later failovers are not undone."
  type        = string
  default     = null
}

variable "instance_name" {
  description = "keepalived vrrp_instance name in the rendered awsfailover config."
  type        = string
  default     = "VI_1"
}

variable "reserve_vips" {
  description = "Create an explicit subnet CIDR reservation (/32) for each IPv4 VIP, so AWS never hands it to another ENI."
  type        = bool
  default     = true
}

variable "create_iam_role" {
  description = "Create the least-privilege role and instance profile for the members."
  type        = bool
  default     = true
}

variable "role_path" {
  description = "IAM path of the role."
  type        = string
  default     = "/awsfailover/"

  validation {
    condition     = can(regex("^/([\\w+=,.@-]+/)*$", var.role_path))
    error_message = "role_path must start and end with a slash."
  }
}

variable "event_sns_topic_arn" {
  description = "SNS topic the agent publishes its events to ([events] sns_topic_arn): rendered into the node configs and granted sns:Publish on it alone; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.event_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.event_sns_topic_arn))
    error_message = "event_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "event_bus" {
  description = "EventBridge bus (name or ARN) the agent puts its events on ([events] eventbridge_bus): rendered into the node configs and granted events:PutEvents on it alone; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.event_bus == null || can(regex("^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$", var.event_bus))
    error_message = "event_bus must be an event bus name or ARN."
  }
}

variable "arbiter_table" {
  description = "DynamoDB table of the lease arbiter ([arbiter] table; its only key is the string partition key lease_id): rendered into the node configs with group.name = name, and granted GetItem, PutItem and UpdateItem on the items whose key starts with \"<name>/\" only. Many groups may share one table. null for no arbiter."
  type        = string
  default     = null

  validation {
    condition     = var.arbiter_table == null ? true : can(regex("^[A-Za-z0-9._-]{3,255}$", var.arbiter_table))
    error_message = "arbiter_table must be a DynamoDB table name."
  }
}

variable "create_arbiter_table" {
  description = "Create arbiter_table here (on demand, deletion protection, point-in-time recovery); false when another group's module or stack owns it."
  type        = bool
  default     = false

  validation {
    condition     = !var.create_arbiter_table || var.arbiter_table != null
    error_message = "create_arbiter_table needs arbiter_table (the table's name)."
  }
}

variable "arbiter_lease_ttl" {
  description = "[arbiter] lease_ttl, seconds: at most keepalived's master-down interval (3 x advert_int plus skew; `awsfailover keepalived-config` refuses a longer one). The agent renews every lease_ttl/3."
  type        = number
  default     = 3

  validation {
    condition     = var.arbiter_lease_ttl >= 0.3 && var.arbiter_lease_ttl <= 60
    error_message = "arbiter_lease_ttl must be 0.3..60 seconds."
  }
}

variable "arbiter_on_unreachable" {
  description = "[arbiter] on_unreachable: \"act\" (move without the lease when the table does not answer, loudly) or \"hold\" (move nothing)."
  type        = string
  default     = "act"

  validation {
    condition     = contains(["act", "hold"], var.arbiter_on_unreachable)
    error_message = "arbiter_on_unreachable must be \"act\" or \"hold\"."
  }
}

variable "endpoint_url" {
  description = "EC2 endpoint written into the rendered awsfailover config (a VPC interface endpoint); null for the default."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
