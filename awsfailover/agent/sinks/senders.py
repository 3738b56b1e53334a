"""Sending one event document: to a webhook (POST, optionally signed), to an SNS topic, to an
EventBridge bus. Each raises Permanent when no retry will help, anything else when one may.
The AWS clients are built on first use, in the sink's own thread, and honour botocore's
endpoint settings (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_EVENTBRIDGE), as
EC2 honours `endpoint_url`: VPC endpoints and the local endpoint work."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsfailover.agent.sinks.outbox import Permanent
from awsfailover.errors import ConfigError

__all__ = ["SIGNATURE_HEADER", "Webhook", "body_of", "eventbridge", "sns"]

SIGNATURE_HEADER = "X-Awsfailover-Signature"
TIMEOUT = 5.0  # seconds for one POST or API call; the outbox retries within its own bound


def body_of(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class Webhook:
    def __init__(self, url: str, secret_file: Path | None) -> None:
        self.url = url
        # read once, at start: a key that cannot be read is a config error, said at start
        try:
            self.key = secret_file.read_bytes().strip() if secret_file is not None else None
        except OSError as exc:
            raise ConfigError(f"events.webhook_secret_file: {exc.strerror or exc}") from exc

    def __call__(self, doc: dict[str, Any]) -> None:
        body = body_of(doc)
        req = urllib.request.Request(self.url, data=body, method="POST")  # noqa: S310 - http(s) only, validated
        req.add_header("Content-Type", "application/json")
        if self.key is not None:
            sig = hmac.new(self.key, body, hashlib.sha256).hexdigest()
            req.add_header(SIGNATURE_HEADER, f"sha256={sig}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310
                resp.read(1024)
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise Permanent(f"HTTP {exc.code}") from exc
            raise


def _client(service: str, region: Callable[[], str]) -> Any:
    from awsfailover.aws.clients import make_client

    return make_client(service, region())


def _aws_call(fn: Callable[[], Any]) -> Any:
    from awsfailover.aws.classify import classify
    from awsfailover.errors import PermanentError

    try:
        return fn()
    except Exception as exc:
        err = classify(exc, "send", "")
        if isinstance(err, PermanentError):
            raise Permanent(str(err)) from exc
        raise err from exc


def sns(topic_arn: str) -> Callable[[dict[str, Any]], None]:
    region = topic_arn.split(":")[3]
    client: list[Any] = []

    def send(doc: dict[str, Any]) -> None:
        if not client:
            client.append(_client("sns", lambda: region))
        subject = f"awsfailover {doc['type']} {doc.get('instance') or ''}".strip()[:100]
        _aws_call(
            lambda: client[0].publish(
                TopicArn=topic_arn, Message=body_of(doc).decode(), Subject=subject
            )
        )

    return send


def eventbridge(bus: str, region: Callable[[], str]) -> Callable[[dict[str, Any]], None]:
    client: list[Any] = []

    def send(doc: dict[str, Any]) -> None:
        if not client:
            client.append(_client("events", region))
        entry = {
            "Source": "awsfailover",
            "DetailType": doc["type"],
            "Detail": body_of(doc).decode(),
            "EventBusName": bus,
        }
        resp = _aws_call(lambda: client[0].put_events(Entries=[entry]))
        if resp.get("FailedEntryCount"):
            failed = resp.get("Entries", [{}])[0]
            raise RuntimeError(
                f"PutEvents: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
            )

    return send
