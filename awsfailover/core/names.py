"""Names and identifiers as AWS and keepalived spell them. Pure: the config validates with
these, keepalived's protocol parser checks instance names with them, and neither imports the
other."""

from __future__ import annotations

import re

__all__ = [
    "ACCOUNT_RE",
    "AZ_RE",
    "DYNAMODB_TABLE_RE",
    "EIPALLOC_RE",
    "ENI_RE",
    "GROUP_NAME_RE",
    "IFNAME_RE",
    "NAME_RE",
    "PL_RE",
    "RTB_RE",
    "SUBNET_RE",
]

ACCOUNT_RE = re.compile(r"^\d{12}$")
# A keepalived instance name as the config may hold it; it also names files in state_dir.
NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
ENI_RE = re.compile(r"^eni-[0-9a-f]{8,17}$")
RTB_RE = re.compile(r"^rtb-[0-9a-f]{8,17}$")
SUBNET_RE = re.compile(r"^subnet-[0-9a-f]{8,17}$")
PL_RE = re.compile(r"^pl-[0-9a-f]{8,17}$")
IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
EIPALLOC_RE = re.compile(r"^eipalloc-[0-9a-f]{8,17}$")
AZ_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z](-[a-z0-9]+)?$")
# A group's name is the prefix of its leases' keys and of the IAM LeadingKeys condition:
# no "/" (the separator) and nothing an IAM string pattern treats specially (* ?).
GROUP_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DYNAMODB_TABLE_RE = re.compile(r"^[A-Za-z0-9._-]{3,255}$")
