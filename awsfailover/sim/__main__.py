"""python -m awsfailover.sim [--host H] [--port P]: serve the local EC2 endpoint until killed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from awsfailover.sim.server import LocalEndpoint


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m awsfailover.sim")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    ep = LocalEndpoint(args.host, args.port).start()
    print(ep.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    ep.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
