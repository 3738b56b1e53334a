"""The floor of a cold hook: a bare interpreter that only builds a botocore EC2 client, as the
hook does (`aws.clients.make_ec2_client`). bench row 1 and the keepalived lab measure it
beside the hook, so that the hook's figure is judged against this machine, now."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Mapping

__all__ = ["client_build_seconds"]

SCRIPT = (
    "import botocore.session, botocore.config\n"
    "botocore.session.get_session().create_client('ec2', endpoint_url={url!r},"
    " config=botocore.config.Config(region_name='eu-north-1',"
    " retries={{'mode': 'standard', 'total_max_attempts': 1}}))\n"
)


def client_build_seconds(
    endpoint_url: str = "http://127.0.0.1:9", env: Mapping[str, str] | None = None
) -> float:
    """Wall time of one such interpreter, start to exit."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", SCRIPT.format(url=endpoint_url)],
        env=None if env is None else dict(env),
        check=True,
        timeout=60,
    )
    return time.monotonic() - started
