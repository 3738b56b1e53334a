"""Least privilege: the policy generator and the check-iam preflight."""
