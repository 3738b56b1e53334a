"""The event bus's listener that feeds every configured sink. It only builds a document and
appends it to each sink's outbox: nothing here waits on the network."""

from __future__ import annotations

from collections.abc import Callable

from awsfailover.agent.events import Event
from awsfailover.agent.metrics import Metrics
from awsfailover.agent.sinks.outbox import Outbox
from awsfailover.agent.sinks.schema import document
from awsfailover.agent.sinks.senders import Webhook, eventbridge, sns
from awsfailover.config.schema import EventsSettings, Settings

__all__ = ["EventSinks", "event_sinks"]


class EventSinks:
    def __init__(
        self,
        settings: EventsSettings,
        metrics: Metrics,
        group: str,
        node: str,
        region: Callable[[], str],
    ) -> None:
        self.group = group
        self.node = node
        self.outboxes: list[Outbox] = []

        def counter(sink: str) -> Callable[[str], None]:
            return lambda outcome: metrics.events[outcome].labels(sink).inc()

        if settings.webhook_url:
            hook = Webhook(settings.webhook_url, settings.webhook_secret_file)
            self.outboxes.append(Outbox("webhook", hook, counter("webhook")))
        if settings.sns_topic_arn:
            self.outboxes.append(Outbox("sns", sns(settings.sns_topic_arn), counter("sns")))
        if settings.eventbridge_bus:
            send = eventbridge(settings.eventbridge_bus, region)
            self.outboxes.append(Outbox("eventbridge", send, counter("eventbridge")))

    def __call__(self, event: Event) -> None:
        doc = document(event, self.group, self.node)
        if doc is None:
            return
        for box in self.outboxes:
            box.put(doc)

    def close(self) -> None:
        for box in self.outboxes:
            box.close()


def event_sinks(settings: Settings, metrics: Metrics, node: str) -> tuple[EventSinks, ...]:
    """The agent's sinks listener, when [events] configures any sink."""
    if not settings.events.any:
        return ()
    group = settings.group.resource_tag or "+".join(sorted(settings.group.enis)) or node

    def region() -> str:
        from awsfailover.aws.node import NodeFacts

        return NodeFacts(settings).region()

    return (EventSinks(settings.events, metrics, group, node, region),)
