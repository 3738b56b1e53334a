"""The command line: the parser, one handler per command, and the keepalived hook's fast path.

`main` is re-exported for the console script (`awsfailover = awsfailover.cli:main`); importing
this package costs argparse and nothing else.
"""

from awsfailover.cli.main import main

__all__ = ["main"]
