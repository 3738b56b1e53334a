"""The keepalived notify hook's fast path. Standard library until the work needs more: a
hand-off to a running agent, or a non-MASTER transition, never imports pydantic or botocore."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from awsfailover.core.model import Outcome
    from awsfailover.failover.sequence import Sequence
    from awsfailover.keepalived.protocol import Transition

__all__ = ["notify"]


def notify(args: argparse.Namespace) -> int:
    """keepalived's hook. Its place in keepalived's order is its fork stamp, which the kernel
    recorded before a line of ours ran. Then, cheapest first: hand over to a running agent;
    else claim the stamp in the instance's sequence (stopping an older MASTER in flight) and
    only then import pydantic and botocore to do the work."""
    from dataclasses import replace

    from awsfailover.config.raw import (
        RawConfigError,
        load_raw,
        raw_instance_names,
        raw_state_dirs,
        resolve_config_path,
    )
    from awsfailover.errors import AwsFailoverError, ConfigError
    from awsfailover.failover.sequence import Sequence, format_stamp, process_stamp
    from awsfailover.keepalived import handoff
    from awsfailover.keepalived.protocol import parse_args

    stamp = process_stamp()
    try:
        t = replace(parse_args(args.type, args.name, args.state, args.priority), stamp=stamp)
    except ValueError as exc:
        raise ConfigError(f"notify: {exc}") from exc
    log = logging.getLogger("awsfailover.notify")
    config_path = resolve_config_path(args.config)
    # the fast entry may have offered this very line already: one wait for the agent, not two
    line = t.line()
    answer = None
    if line not in handoff.TRIED:
        sock, timeout = handoff.agent_settings(config_path)
        answer = handoff.send(sock, line, timeout)
    if answer is not None:
        log.info("%s %s handed to the agent (%s)", t.name, t.state, answer)
        return 0
    try:
        doc = load_raw(config_path)
    except RawConfigError as exc:
        raise ConfigError(str(exc)) from None
    # The name first, without pydantic: an unknown one must leave no file behind in state_dir.
    names = raw_instance_names(doc)
    if names is not None and t.name not in names:
        raise ConfigError(f"unknown instance {t.name!r} (configured: {', '.join(names) or 'none'})")
    dirs = raw_state_dirs(doc)
    seq = Sequence(t.name, *dirs) if dirs is not None else None
    if seq is not None and not seq.advance(stamp, t.state):
        cur = seq.current()
        log.info(
            "%s %s (transition %s) already overtaken by %s; nothing to do",
            t.name,
            t.state,
            format_stamp(stamp),
            f"{cur.state} {format_stamp(cur.stamp)}" if cur else "a newer transition",
        )
        return 0
    # the hook's own events: built and sent only after its work, never before it
    wants_events = isinstance(doc.get("events"), dict)
    if t.state != "MASTER" and seq is not None:
        # Nothing to do in EC2: the sequence now stops any older MASTER in flight (a BACKUP
        # costs a bare interpreter, no pydantic).
        log.info("%s: %s %s (transition %s)", t.name, t.kind, t.state, format_stamp(stamp))
        if wants_events:
            _send_events(doc, t, [], None)
        return 0
    if not wants_events:
        return _work(args, config_path, t, seq)
    outcomes: list[Outcome] = []
    error: AwsFailoverError | None = None
    try:
        return _work(args, config_path, t, seq, outcomes.append)
    except AwsFailoverError as exc:
        error = exc
        raise
    finally:
        _send_events(doc, t, outcomes, error)


def _send_events(
    doc: dict[str, Any], t: Transition, outcomes: list[Outcome], error: Exception | None
) -> None:
    import time

    work_done = time.monotonic()  # the budget counts from here, imports included
    from awsfailover.agent.sinks.once import HookEvents

    events = HookEvents(doc, t)
    for outcome in outcomes:
        events.took(outcome)
    if error is not None:
        events.failed(t.name, error)
    events.send(since=work_done)


def _work(
    args: argparse.Namespace,
    config_path: Path,
    t: Transition,
    seq: Sequence | None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> int:
    from awsfailover.config.cache import read_cache, write_cache
    from awsfailover.failover import run as commands

    # An unchanged config was validated by an earlier hook: no pydantic on this path.
    where = seq.dir if seq is not None else None
    cached = read_cache(where, config_path) if where is not None else None
    if cached is not None:
        return commands.notify(cached, t, seq, on_outcome)
    from awsfailover.config.load import load_settings

    settings = load_settings(args.config)
    if where is not None:
        write_cache(where, config_path, settings)
    return commands.notify(settings, t, seq, on_outcome)
