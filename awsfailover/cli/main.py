"""Argument parsing and exit codes only. Heavy modules are imported inside each command so the
keepalived hook pays only for what it uses."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="awsfailover",
        description="Move VIPs and routes inside an AWS VPC when keepalived changes state.",
    )
    p.add_argument(
        "--config",
        help="config file (default: $AWSFAILOVER_CONFIG, else /etc/awsfailover/config.toml)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    n = sub.add_parser("notify", help="keepalived notify hook: TYPE NAME STATE [PRIORITY]")
    n.add_argument("type", metavar="TYPE", help="INSTANCE or GROUP")
    n.add_argument("name", metavar="NAME", help="vrrp_instance or vrrp_sync_group name")
    n.add_argument("state", metavar="STATE", help="MASTER, BACKUP, FAULT or STOP")
    n.add_argument("priority", metavar="PRIORITY", nargs="?", default=None)

    t = sub.add_parser("takeover", help="converge instances onto this node now")
    t.add_argument("names", metavar="NAME", nargs="*", help="instances (default: all)")
    t.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")

    s = sub.add_parser("status", help="who holds each VIP and where each route points")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    a = sub.add_parser("agent", help="long-running daemon fed by keepalived's notify FIFO")
    a.add_argument(
        "fifo",
        metavar="FIFO",
        nargs="?",
        default=None,
        help="notify FIFO (keepalived's vrrp_notify_fifo_script passes it last)",
    )

    ip = sub.add_parser("iam-policy", help="print the least-privilege IAM policy for the group")
    ip.add_argument("--eni", action="append", default=[], help="a group ENI (repeatable)")
    ip.add_argument("--route-table", action="append", default=[], help="rtb-... (repeatable)")
    ip.add_argument("--account", help="12-digit account id (default: group.account_id)")
    ip.add_argument("--region", help="Region (default: the config's); picks the ARN partition")
    ip.add_argument("--tag", help="KEY=VALUE: scope the ENI statements by tag, not by id")
    ip.add_argument(
        "--role",
        help="role name or /path/name: add the statement check-iam needs to simulate it",
    )
    ip.add_argument("--ipv6", action="store_true", help="grant the IPv6 actions (no config)")
    ip.add_argument(
        "--eip",
        action="append",
        default=[],
        help="an Elastic IP allocation id to reassociate (repeatable)",
    )

    ci = sub.add_parser("check-iam", help="evaluate the policy the agent needs, on this node")
    ci.add_argument(
        "--principal-arn",
        help="simulate this role instead of the caller (with credentials that may simulate)",
    )

    d = sub.add_parser("doctor", help="check the whole setup; PASS/WARN/FAIL with fixes")
    d.add_argument(
        "--expect-agent", action="store_true", help="the agent must be running and healthy"
    )

    k = sub.add_parser("keepalived-config", help="print keepalived.conf for this node")
    k.add_argument("--self", dest="self_ip", required=True, help="this node's VRRP source IP")
    k.add_argument("--peer", action="append", required=True, help="a peer's IP (repeatable)")
    k.add_argument("--priority", type=int, default=100, help="VRRP priority 1..254 (100)")
    k.add_argument("--advert-int", type=float, default=1.0, help="seconds between adverts (1)")
    k.add_argument("--use-agent", action="store_true", help="also feed the agent's FIFO")
    k.add_argument("--nopreempt", action="store_true", help="a returning node stays BACKUP")
    k.add_argument("--vrid", type=int, default=51, help="first virtual_router_id (51)")
    k.add_argument("--script-user", default="root", help="keepalived script_user (root)")
    k.add_argument("--executable", help="awsfailover path keepalived runs (default: this one)")

    m = sub.add_parser("maintenance", help="hand mastership over gracefully (on|off|status)")
    m.add_argument("mode", choices=("on", "off", "status"))

    kc = sub.add_parser("keepalived-check", help="vrrp_script target: maintenance | agent")
    kc.add_argument("what", choices=("maintenance", "agent"))

    sub.add_parser("demo", help="fail a group over in the built-in local EC2 endpoint")
    return p


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from awsfailover import logs

    logs.setup(logging.DEBUG if args.verbose else logging.INFO, json_format=args.log_json)
    if args.command == "demo":
        try:
            from awsfailover.cli import demo
        except ImportError as exc:  # moto is an extra: appliances do not carry it
            from awsfailover.errors import ConfigError

            raise ConfigError(
                f"demo needs the local endpoint: pip install 'awsfailover[sim]' ({exc})"
            ) from exc
        return demo.run()
    if args.command == "notify":
        return _notify(args)
    if args.command == "iam-policy":
        return _iam_policy(args)
    if args.command in ("maintenance", "keepalived-check"):
        return _maintenance(args)
    if args.command == "keepalived-config":
        return _keepalived_config(args)
    from awsfailover.config.schema import load_settings

    settings = load_settings(args.config)
    if args.command == "check-iam":
        from awsfailover.iam.check import check_iam

        return check_iam(settings, args.principal_arn)
    if args.command == "doctor":
        from awsfailover.doctor import checks as doctor

        return doctor.run(settings, args.expect_agent)
    from awsfailover.failover import run as commands

    if args.command == "takeover":
        return commands.takeover(settings, args.names, args.dry_run)
    if args.command == "status":
        return commands.status(settings, args.json)
    if args.command == "agent":
        return commands.agent(settings, args.config, args.fifo)
    raise AssertionError(args.command)  # argparse only accepts the commands above


def _iam_policy(args: argparse.Namespace) -> int:
    from awsfailover.config.raw import resolve_config_path
    from awsfailover.config.schema import Settings, load_settings
    from awsfailover.iam.check import PolicyArgs, policy_scope
    from awsfailover.iam.policy import build, render

    settings: Settings | None = None
    if args.config or resolve_config_path(None).is_file():
        settings = load_settings(args.config)
    scope = policy_scope(
        settings,
        PolicyArgs(
            enis=args.eni,
            route_tables=args.route_table,
            account=args.account,
            region=args.region,
            tag=args.tag,
            role=args.role,
            ipv6=args.ipv6,
            eips=args.eip,
        ),
    )
    sys.stdout.write(render(build(scope)))
    return 0


def _maintenance(args: argparse.Namespace) -> int:
    """Standard library only: keepalived runs keepalived-check every second."""
    from awsfailover.config.raw import resolve_config_path
    from awsfailover.keepalived import checks as maintenance

    config = resolve_config_path(args.config)
    if args.command == "keepalived-check":
        if args.what == "maintenance":
            return 1 if maintenance.in_maintenance(config) else 0
        ok, _why = maintenance.agent_healthy(config)
        return 0 if ok else 1
    if args.mode == "status":
        on = maintenance.in_maintenance(config)
        print(f"maintenance {'ON' if on else 'OFF'} ({maintenance.flag_path(config)})")
        return 0
    try:
        print(maintenance.set_maintenance(config, args.mode == "on"))
    except maintenance.MaintenanceError as exc:
        print(f"awsfailover: error: maintenance {args.mode}: {exc}", file=sys.stderr)
        return 2
    return 0


def _keepalived_config(args: argparse.Namespace) -> int:
    from awsfailover.config.raw import resolve_config_path
    from awsfailover.config.schema import load_settings
    from awsfailover.errors import ConfigError
    from awsfailover.keepalived.conf import NodeVrrp, hook_command, render

    settings = load_settings(args.config)
    try:
        node = NodeVrrp(
            self_ip=args.self_ip,
            peers=tuple(args.peer),
            priority=args.priority,
            advert_int=args.advert_int,
            use_agent=args.use_agent,
            nopreempt=args.nopreempt,
            vrid_base=args.vrid,
            script_user=args.script_user,
        )
        command = hook_command(args.executable, sys.argv[0], sys.executable)
        text = render(settings, node, command, resolve_config_path(args.config).absolute())
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    sys.stdout.write(text)
    return 0


def _notify(args: argparse.Namespace) -> int:
    """keepalived's hook. Its place in keepalived's order is its fork stamp, which the kernel
    recorded before a line of ours ran. Then, cheapest first: hand over to a running agent;
    else claim the stamp in the instance's sequence (stopping an older MASTER in flight) and
    only then import pydantic and botocore to do the work."""
    from dataclasses import replace

    from awsfailover.config.raw import RawConfigError, load_raw, raw_state_dirs, resolve_config_path
    from awsfailover.errors import ConfigError
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
    sock, timeout = handoff.agent_settings(config_path)
    answer = handoff.send(sock, t.line(), timeout)
    if answer is not None:
        log.info("%s %s handed to the agent (%s)", t.name, t.state, answer)
        return 0
    try:
        doc = load_raw(config_path)
    except RawConfigError as exc:
        raise ConfigError(str(exc)) from None
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
    if t.state != "MASTER" and seq is not None:
        # Nothing to do in EC2: the sequence now stops any older MASTER in flight. The name
        # is checked against the file without pydantic (a BACKUP costs ~60 ms, not ~500 ms).
        names = [i.get("name") for i in doc.get("instances", []) if isinstance(i, dict)]
        if t.name not in names:
            raise ConfigError(
                f"unknown instance {t.name!r} (configured: {', '.join(map(str, names)) or 'none'})"
            )
        log.info("%s: %s %s (transition %s)", t.name, t.kind, t.state, format_stamp(stamp))
        return 0
    from awsfailover.config.schema import load_settings
    from awsfailover.failover import run as commands

    return commands.notify(load_settings(args.config), t, seq)


def _one_line(text: str, limit: int = 400) -> str:
    """Errors are one short line: keepalived's log and an operator's terminal both need it."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _exit(code: int) -> int:
    """A worker thread stuck in a trickling read must not hold the process past its deadline:
    the interpreter would join it at exit. Flush and leave."""
    import threading

    main = threading.main_thread()
    if any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    from awsfailover.errors import AwsFailoverError

    try:
        return _exit(run(argv))
    except AwsFailoverError as exc:
        if exc.exit_code == 0:
            logging.getLogger("awsfailover").info("%s", _one_line(str(exc)))
        else:
            print(f"awsfailover: error: {_one_line(str(exc))}", file=sys.stderr)
        return _exit(exc.exit_code)
    except KeyboardInterrupt:
        return _exit(130)
    except Exception as exc:  # the hook must never die with a traceback keepalived discards
        logging.getLogger("awsfailover").debug("internal error", exc_info=True)
        print(
            f"awsfailover: internal error: {_one_line(f'{type(exc).__name__}: {exc}')}",
            file=sys.stderr,
        )
        return _exit(1)


if __name__ == "__main__":
    sys.exit(main())
