"""Events to the operator's systems (a webhook, Amazon SNS, Amazon EventBridge): the event
documents (schema), a bounded outbox per sink that never blocks a failover (outbox), the
senders (senders), and the listener on the agent's event bus that feeds them (listener)."""
