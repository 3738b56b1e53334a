"""IMDSv2: token, MAC -> ENI id, Region. Standard library only (the hook imports this cold).

The endpoint honours botocore's AWS_EC2_METADATA_SERVICE_ENDPOINT, so tests and odd setups
point it elsewhere without code changes.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from awsfailover.errors import MetadataError

DEFAULT_ENDPOINT = "http://169.254.169.254/"
TOKEN_TTL_SECONDS = 300
_SYSFS_NET = Path("/sys/class/net")


def endpoint() -> str:
    url = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or DEFAULT_ENDPOINT
    return url if url.endswith("/") else url + "/"


def interface_mac(interface: str) -> str:
    path = _SYSFS_NET / interface / "address"
    try:
        return path.read_text().strip().lower()
    except OSError as exc:
        raise MetadataError(f"node.interface: no such interface {interface!r} ({exc})") from exc


class Imds:
    def __init__(self, base_url: str | None = None, timeout: float = 1.0) -> None:
        if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            raise MetadataError(
                "instance metadata is disabled (AWS_EC2_METADATA_DISABLED); set region and "
                "node.eni_id in the config"
            )
        self.base = base_url or endpoint()
        self.timeout = timeout
        self._token: str | None = None

    def _open(self, req: urllib.request.Request) -> str:
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                body: bytes = resp.read()
                return body.decode()
        except urllib.error.HTTPError as exc:
            raise MetadataError(f"instance metadata {req.full_url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise MetadataError(
                f"instance metadata at {self.base} unreachable ({exc}); in a container the "
                "IMDSv2 hop limit must be 2, or set region and node.eni_id in the config"
            ) from exc

    def token(self) -> str:
        if self._token is None:
            req = urllib.request.Request(  # noqa: S310 - URL is the metadata endpoint
                self.base + "latest/api/token",
                method="PUT",
                headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
            )
            self._token = self._open(req).strip()
        return self._token

    def get(self, path: str) -> str:
        req = urllib.request.Request(  # noqa: S310
            self.base + "latest/meta-data/" + path.lstrip("/"),
            headers={"X-aws-ec2-metadata-token": self.token()},
        )
        return self._open(req).strip()

    def region(self) -> str:
        return self.get("placement/region")

    def eni_for_mac(self, mac: str) -> str:
        try:
            return self.get(f"network/interfaces/macs/{mac}/interface-id")
        except MetadataError as exc:
            raise MetadataError(
                f"instance metadata has no interface with MAC {mac}: {exc}"
            ) from exc
