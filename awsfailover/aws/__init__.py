"""Everything that talks to AWS: clients, retries, parsers, EC2 calls, instance metadata."""
