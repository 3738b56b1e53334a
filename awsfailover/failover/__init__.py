"""Moving a group: keepalived's order (sequence), the engine, and the notify/takeover runs."""
