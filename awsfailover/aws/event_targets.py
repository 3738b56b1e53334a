"""Whether the agent's event targets exist, as doctor asks: the SNS topic
(sns:GetTopicAttributes) and the EventBridge bus (events:DescribeEventBus), each on its own
resource only. botocore's endpoint settings apply (AWS_ENDPOINT_URL_SNS, ..._EVENTBRIDGE)."""

from __future__ import annotations

from awsfailover.aws.clients import call_once, make_client
from awsfailover.errors import AwsError

__all__ = ["bus_problem", "topic_problem"]

# what each service answers for a target that does not exist
_MISSING = frozenset({"NotFound", "NotFoundException", "ResourceNotFoundException"})


def _problem(exc: AwsError, what: str) -> str:
    if exc.code in _MISSING:
        return f"{what} does not exist"
    return str(exc)


def topic_problem(topic_arn: str) -> str | None:
    """None when the topic exists and may be read, else why not."""
    client = make_client("sns", topic_arn.split(":")[3])
    try:
        call_once(
            "GetTopicAttributes", topic_arn, lambda: client.get_topic_attributes(TopicArn=topic_arn)
        )
    except AwsError as exc:
        return _problem(exc, f"SNS topic {topic_arn}")
    return None


def bus_problem(bus: str, region: str) -> str | None:
    """None when the bus (a name or an ARN) exists and may be read, else why not."""
    where = bus.split(":")[3] if bus.startswith("arn:") else region
    client = make_client("events", where)
    try:
        call_once("DescribeEventBus", bus, lambda: client.describe_event_bus(Name=bus))
    except AwsError as exc:
        return _problem(exc, f"EventBridge bus {bus}")
    return None
