"""keepalived's side: the notify protocol, the FIFO, the hand-off client, its checks and the
keepalived.conf renderer."""
