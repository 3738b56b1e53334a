"""The entry point: parse, set up logging, run one handler, and turn what it raised into an
exit code and one line. Heavy modules are imported inside each handler, so the keepalived hook
pays only for what it uses."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from awsfailover.cli import parser

# Each command's handler as "module:function", imported only when that command runs: the hook
# pays for nothing else, and the demo (the only command that needs the local endpoint) is the
# only one that can import it.
HANDLERS = {
    "notify": "awsfailover.cli.hook:notify",
    "iam-policy": "awsfailover.cli.commands:iam_policy",
    "maintenance": "awsfailover.cli.commands:maintenance",
    "keepalived-check": "awsfailover.cli.commands:maintenance",
    "keepalived-config": "awsfailover.cli.commands:keepalived_config",
    "check-iam": "awsfailover.cli.commands:check_iam",
    "doctor": "awsfailover.cli.commands:doctor",
    "takeover": "awsfailover.cli.commands:takeover",
    "status": "awsfailover.cli.commands:status",
    "agent": "awsfailover.cli.commands:agent",
    "demo": "awsfailover.sim.demo:main",
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, _, name = HANDLERS[command].partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        if command != "demo":
            raise
        # moto is an extra: appliances do not carry it
        from awsfailover.errors import ConfigError

        raise ConfigError(
            f"demo needs the local endpoint: pip install 'awsfailover[sim]' ({exc})"
        ) from exc
    fn: Callable[[argparse.Namespace], int] = getattr(mod, name)
    return fn


def run(argv: Sequence[str] | None = None) -> int:
    args = parser.build().parse_args(argv)
    from awsfailover import logs

    logs.setup(logging.DEBUG if args.verbose else logging.INFO, json_format=args.log_json)
    return _handler(args.command)(args)


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
    except BrokenPipeError:
        # The reader went away (`... | head`): nothing is wrong with us. Python would report
        # the failed flush of stdout at exit; point stdout at /dev/null so it has nothing to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return _exit(0)
    except Exception as exc:  # the hook must never die with a traceback keepalived discards
        logging.getLogger("awsfailover").debug("internal error", exc_info=True)
        print(
            f"awsfailover: internal error: {_one_line(f'{type(exc).__name__}: {exc}')}",
            file=sys.stderr,
        )
        return _exit(1)


if __name__ == "__main__":
    sys.exit(main())
