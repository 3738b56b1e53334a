"""The lease's conditional writes against the local endpoint's DynamoDB (moto, served one
request at a time, as DynamoDB applies a conditional write to an item atomically)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from awsfailover.aws.lease_table import DynamoLeaseTable, make_dynamodb_client
from awsfailover.core.lease import FREE, Lease, LeaseRecord
from awsfailover.errors import CONDITION_FAILED, PermanentError, TransientError
from awsfailover.sim import SimClient
from awsfailover.sim.world import REGION, create_lease_table


@pytest.fixture
def table(sim: SimClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoLeaseTable]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", sim.url)
    name = create_lease_table(sim.url)
    yield DynamoLeaseTable(make_dynamodb_client(REGION, 2.0), name)


def _refused(exc: pytest.ExceptionInfo[PermanentError]) -> bool:
    return exc.value.code == CONDITION_FAILED


def test_each_write_holds_only_on_what_the_writer_saw(table: DynamoLeaseTable) -> None:
    assert table.read("lab/VI_1", 1) is None
    assert table.create("lab/VI_1", "eni-a", 1) == LeaseRecord("eni-a", 1, 1)
    with pytest.raises(PermanentError) as again:
        table.create("lab/VI_1", "eni-b", 1)
    assert _refused(again)
    seen = table.read("lab/VI_1", 1)
    assert seen == LeaseRecord("eni-a", 1, 1)
    assert table.renew("lab/VI_1", "eni-a", 1, 1) == LeaseRecord("eni-a", 2, 1)
    with pytest.raises(PermanentError) as stale:
        table.claim("lab/VI_1", "eni-b", seen, 1)  # renewed since b saw it
    assert _refused(stale)
    with pytest.raises(PermanentError) as not_holder:
        table.renew("lab/VI_1", "eni-b", 1, 1)
    assert _refused(not_holder)
    taken = table.claim("lab/VI_1", "eni-b", LeaseRecord("eni-a", 2, 1), 1)
    assert taken == LeaseRecord("eni-b", 3, 2)
    with pytest.raises(PermanentError) as old_token:
        table.release("lab/VI_1", "eni-a", 1, 1)
    assert _refused(old_token)
    table.release("lab/VI_1", "eni-b", 2, 1)
    assert table.read("lab/VI_1", 1) == LeaseRecord(FREE, 4, 2)


def test_of_many_concurrent_takers_of_one_stale_lease_exactly_one_wins(
    table: DynamoLeaseTable,
) -> None:
    table.create("lab/VI_1", "eni-dead", 1)
    for round_ in range(40):  # moto alone let two of eight win about one run in three
        seen = table.read("lab/VI_1", 1)
        assert seen is not None
        wins: list[str] = []
        go = threading.Barrier(8)

        def take(
            me: str, seen: LeaseRecord = seen, go: threading.Barrier = go, wins: list[str] = wins
        ) -> None:
            go.wait()
            try:
                table.claim("lab/VI_1", me, seen, 5)
                wins.append(me)
            except PermanentError as exc:
                assert exc.code == CONDITION_FAILED

        threads = [threading.Thread(target=take, args=(f"eni-{i}",)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(wins) == 1, (round_, wins)
        now = table.read("lab/VI_1", 1)
        assert now is not None and now.holder == wins[0] and now.token == seen.token + 1


def test_a_hanging_table_is_a_transient_error_within_the_timeout(
    table: DynamoLeaseTable, sim: SimClient
) -> None:
    import time

    sim.set_faults(dynamodb_delay=3.0)
    started = time.monotonic()
    with pytest.raises(TransientError):
        table.read("lab/VI_1", 0.3)
    assert time.monotonic() - started < 1.0


def test_a_lease_against_the_table_takes_a_released_lease_at_once(
    table: DynamoLeaseTable,
) -> None:
    a = Lease(table, "lab/VI_1", "eni-a", 3.0)
    b = Lease(table, "lab/VI_1", "eni-b", 3.0)
    a.look(1)
    a.take(1)
    b.look(1)
    assert b.free_in() > 2.5
    a.release(1)
    b.look(1)
    assert b.free_in() == 0.0
    assert b.take(1).token == 2
