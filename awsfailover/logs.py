"""One logging setup for every command; safe to call twice."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_HANDLER_NAME = "awsfailover"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, sort_keys=True)


def count(n: int, noun: str) -> str:
    """'1 instance', '2 instances': log lines an operator reads say it right."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def setup(level: int = logging.INFO, json_format: bool = False) -> None:
    root = logging.getLogger("awsfailover")
    root.setLevel(level)
    root.propagate = False
    for h in list(root.handlers):
        if h.get_name() == _HANDLER_NAME:
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
                datefmt="%Y-%m-%dT%H:%M:%S",
            )
        )
    root.addHandler(handler)
    # botocore logs request bodies and credentials-adjacent detail at DEBUG: keep it quiet.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
