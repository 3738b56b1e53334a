"""One handler per command that is not the hook: each takes the parsed arguments, imports
what it needs when it runs, and returns the exit code."""

from __future__ import annotations

import argparse
import sys

__all__ = [
    "agent",
    "check_iam",
    "doctor",
    "iam_policy",
    "keepalived_config",
    "maintenance",
    "status",
    "takeover",
]


def iam_policy(args: argparse.Namespace) -> int:
    from awsfailover.config.load import load_settings
    from awsfailover.config.raw import resolve_config_path
    from awsfailover.config.schema import Settings
    from awsfailover.iam.policy import build, render
    from awsfailover.iam.scope import PolicyArgs, policy_scope

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
    if settings is not None and not settings.group.enis and scope.tag is None and scope.enis:
        # The peers' ENIs are not known: the statements let this node take addresses to its
        # own ENI only, and the peer's role needs its own policy.
        print(
            "awsfailover: warning: no group.enis in the config: the ENI statements name only "
            f"{', '.join(scope.enis)}; list every member's ENI in [group] enis (or pass --eni) "
            "for a policy the whole group can share",
            file=sys.stderr,
        )
    sys.stdout.write(render(build(scope)))
    return 0


def maintenance(args: argparse.Namespace) -> int:
    """Standard library only: keepalived runs keepalived-check every second."""
    from awsfailover.config.raw import resolve_config_path
    from awsfailover.keepalived import checks

    config = resolve_config_path(args.config)
    if args.command == "keepalived-check":
        if args.what == "maintenance":
            return 1 if checks.in_maintenance(config) else 0
        ok, _why = checks.agent_healthy(config)
        return 0 if ok else 1
    try:
        if args.mode == "status":
            flag = checks.operator_flag_path(config)
            print(f"maintenance {'ON' if checks.maintenance_on(flag) else 'OFF'} ({flag})")
            return 0
        print(checks.set_maintenance(config, args.mode == "on"))
    except checks.MaintenanceError as exc:
        print(f"awsfailover: error: maintenance {args.mode}: {exc}", file=sys.stderr)
        return 2
    return 0


def keepalived_config(args: argparse.Namespace) -> int:
    from awsfailover.config.load import load_settings
    from awsfailover.config.raw import resolve_config_path
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
            script_checks=args.script_checks,
        )
        command = hook_command(args.executable, sys.argv[0], sys.executable)
        text = render(settings, node, command, resolve_config_path(args.config).absolute())
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    from awsfailover.config.cache import keep

    keep(settings, resolve_config_path(args.config))  # the first MASTER hook then skips pydantic
    sys.stdout.write(text)
    return 0


def check_iam(args: argparse.Namespace) -> int:
    from awsfailover.config.load import load_settings
    from awsfailover.iam.check import check_iam

    return check_iam(load_settings(args.config), args.principal_arn)


def doctor(args: argparse.Namespace) -> int:
    from awsfailover.config.cache import keep
    from awsfailover.config.load import load_settings
    from awsfailover.config.raw import resolve_config_path
    from awsfailover.doctor import run

    settings = load_settings(args.config)
    keep(settings, resolve_config_path(args.config))  # the first MASTER hook then skips pydantic
    return run.run(settings, args.expect_agent)


def takeover(args: argparse.Namespace) -> int:
    from awsfailover.config.load import load_settings
    from awsfailover.failover import run

    return run.takeover(load_settings(args.config), args.names, args.dry_run, args.force)


def status(args: argparse.Namespace) -> int:
    from awsfailover.config.load import load_settings
    from awsfailover.failover import run

    return run.status(load_settings(args.config), args.json)


def agent(args: argparse.Namespace) -> int:
    from pathlib import Path

    from awsfailover import defaults
    from awsfailover.agent.daemon import Agent
    from awsfailover.config.load import load_settings

    settings = load_settings(args.config)
    a = Agent(
        settings,
        config_path=args.config,
        fifo=Path(args.fifo) if args.fifo else None,
        process_name=defaults.AGENT_PROCESS_NAME,
    )
    a.install_signal_handlers()
    return a.run()
