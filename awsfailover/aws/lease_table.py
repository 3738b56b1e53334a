"""The arbiter's DynamoDB table: one item per lease, {lease_id, holder, counter, token}, and
the four conditional writes core.lease needs. Every call is one attempt (the lease decides
what a failure means) and ends within the timeout it is given, whatever the endpoint does:
it runs on a daemon thread the caller stops waiting for.

botocore resolves the endpoint (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL): the table is
usually reached through a gateway endpoint, not the EC2 override.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from awsfailover.aws.classify import classify
from awsfailover.aws.clients import one_attempt_client
from awsfailover.core.lease import FREE, TIMEOUT, LeaseRecord
from awsfailover.errors import AwsError, TransientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["KEY", "DynamoLeaseTable", "make_dynamodb_client"]

T = TypeVar("T")

KEY = "lease_id"  # the table's partition key (string), and its only key
_NAMES = {"#k": KEY, "#h": "holder", "#c": "counter", "#t": "token"}


def make_dynamodb_client(region: str, timeout: float) -> DynamoDBClient:
    client = one_attempt_client("dynamodb", region, connect_timeout=timeout, read_timeout=timeout)
    return cast("DynamoDBClient", client)


def _record(item: dict[str, Any]) -> LeaseRecord:
    return LeaseRecord(
        holder=str(item["holder"]["S"]),
        counter=int(item["counter"]["N"]),
        token=int(item["token"]["N"]),
    )


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def bounded(operation: str, resource: str, timeout: float, fn: Callable[[], T]) -> T:
    """fn's result within timeout, classified errors, or TransientError("Timeout"): the
    call may still land later (a lost answer, which the lease's reads sort out)."""
    box: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, fn()))
        except Exception as exc:
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name=f"dynamodb-{operation}", daemon=True).start()
    if not done.wait(max(0.0, timeout)):
        raise TransientError(operation, TIMEOUT, f"no answer within {timeout:.2f}s", resource)
    ok, value = box[0]
    if ok:
        return cast("T", value)
    if isinstance(value, AwsError):
        raise value
    raise classify(value, operation, resource) from value


class DynamoLeaseTable:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table

    def _key(self, lease_id: str) -> dict[str, Any]:
        return {KEY: {"S": lease_id}}

    def read(self, lease_id: str, timeout: float) -> LeaseRecord | None:
        resp = bounded(
            "GetItem",
            lease_id,
            timeout,
            lambda: self.client.get_item(
                TableName=self.table, Key=self._key(lease_id), ConsistentRead=True
            ),
        )
        item = resp.get("Item")
        return _record(item) if item else None

    def create(self, lease_id: str, holder: str, timeout: float) -> LeaseRecord:
        rec = LeaseRecord(holder, 1, 1)
        bounded(
            "PutItem",
            lease_id,
            timeout,
            lambda: self.client.put_item(
                TableName=self.table,
                Item={
                    KEY: {"S": lease_id},
                    "holder": {"S": holder},
                    "counter": _n(1),
                    "token": _n(1),
                },
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": KEY},
            ),
        )
        return rec

    def _update(
        self, lease_id: str, timeout: float, update: str, cond: str, values: dict[str, Any]
    ) -> LeaseRecord:
        names = {k: v for k, v in _NAMES.items() if k in update or k in cond}
        resp = bounded(
            "UpdateItem",
            lease_id,
            timeout,
            lambda: self.client.update_item(
                TableName=self.table,
                Key=self._key(lease_id),
                UpdateExpression=update,
                ConditionExpression=cond,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            ),
        )
        return _record(resp["Attributes"])

    def claim(self, lease_id: str, holder: str, seen: LeaseRecord, timeout: float) -> LeaseRecord:
        return self._update(
            lease_id,
            timeout,
            "SET #h = :me, #c = :c1, #t = :t1",
            "#h = :h AND #c = :c",
            {
                ":me": {"S": holder},
                ":h": {"S": seen.holder},
                ":c": _n(seen.counter),
                ":c1": _n(seen.counter + 1),
                ":t1": _n(seen.token + 1),
            },
        )

    def renew(self, lease_id: str, holder: str, token: int, timeout: float) -> LeaseRecord:
        return self._update(
            lease_id,
            timeout,
            "SET #c = #c + :one",
            "#h = :me AND #t = :t",
            {":me": {"S": holder}, ":t": _n(token), ":one": _n(1)},
        )

    def release(self, lease_id: str, holder: str, token: int, timeout: float) -> None:
        self._update(
            lease_id,
            timeout,
            "SET #h = :free, #c = #c + :one",
            "#h = :me AND #t = :t",
            {":me": {"S": holder}, ":t": _n(token), ":one": _n(1), ":free": {"S": FREE}},
        )


def table_problems(table: str, region: str) -> list[str]:
    """What is wrong with the arbiter's table for doctor (dynamodb:DescribeTable): missing,
    not ACTIVE, a key schema other than lease_id (string) alone. Empty when it is right."""
    from awsfailover.aws.clients import call_once, make_client

    client = make_client("dynamodb", region)
    try:
        desc = call_once("DescribeTable", table, lambda: client.describe_table(TableName=table))
    except AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            return [f"DynamoDB table {table} does not exist"]
        return [str(exc)]
    t = desc["Table"]
    problems = []
    keys = [(k["AttributeName"], k["KeyType"]) for k in t.get("KeySchema", [])]
    types = {a["AttributeName"]: a["AttributeType"] for a in t.get("AttributeDefinitions", [])}
    if keys != [(KEY, "HASH")] or types.get(KEY) != "S":
        problems.append(
            f"table {table}: key schema {keys} ({types}); the arbiter needs the partition key "
            f'"{KEY}" (string) and no sort key'
        )
    if t.get("TableStatus") != "ACTIVE":
        problems.append(f"table {table} is {t.get('TableStatus')}, not ACTIVE")
    return problems
