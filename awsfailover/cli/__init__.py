"""The command line: the parser, one handler per command, and the keepalived hook's fast path.

`main` is the console script (`awsfailover = awsfailover.cli:main`). Importing this package
costs nothing: the hook's hand-off (cli.fast) reads sys.argv itself, and the full command line
(cli.main: argparse, logging) is loaded only when something else is asked.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        from awsfailover.cli.fast import main as fast

        return fast()
    from awsfailover.cli.main import main as full

    return full(argv)
