"""IMDSv2: token, MAC -> ENI id, Region. Standard library only (the hook imports this cold).

The endpoint honours botocore's AWS_EC2_METADATA_SERVICE_ENDPOINT, so tests and odd setups
point it elsewhere without code changes.
"""

from __future__ import annotations

import http.client
import os
import re
import time
import urllib.parse
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


MAX_ANSWER = 4096  # bytes; every answer we read is an id, a Region or a short list
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_ENI_RE = re.compile(r"^eni-[0-9a-f]{8,17}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_=+/-]{1,512}$")


class Imds:
    """Every request is bounded in time (a trickling answer cannot hold the hook) and in size,
    and every answer is checked for the shape it must have: an HTML page or a 50 MB body is
    one short MetadataError, never a traceback."""

    def __init__(self, base_url: str | None = None, timeout: float = 1.0) -> None:
        if os.environ.get("AWS_EC2_METADATA_DISABLED", "").lower() == "true":
            raise MetadataError("instance metadata is disabled (AWS_EC2_METADATA_DISABLED)")
        self.base = base_url or endpoint()
        self.timeout = timeout
        self._token: str | None = None

    def _request(
        self, method: str, path: str, headers: dict[str, str], missing_ok: bool = False
    ) -> str:
        url = urllib.parse.urlsplit(self.base)
        if url.scheme != "http" or not url.hostname:
            raise MetadataError(f"instance metadata endpoint {self.base!r} is not http://host/")
        end = time.monotonic() + self.timeout
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=self.timeout)
        try:
            conn.request(method, url.path.rstrip("/") + "/" + path, headers=headers)
            resp = conn.getresponse()
            body = b""
            while len(body) <= MAX_ANSWER:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"answer not complete within {self.timeout:g}s")
                if conn.sock is not None:
                    conn.sock.settimeout(left)
                chunk = resp.read1(MAX_ANSWER + 1 - len(body))
                if not chunk:
                    break
                body += chunk
        except (OSError, http.client.HTTPException) as exc:
            raise MetadataError(
                f"instance metadata at {self.base} unreachable ({_short(exc)}); in a container "
                "the IMDSv2 hop limit must be 2"
            ) from None
        finally:
            conn.close()
        if resp.status == 404 and missing_ok:
            return ""  # a key that exists only when there is something to say (ipv6s)
        if resp.status != 200:
            raise MetadataError(f"instance metadata {path}: HTTP {resp.status}")
        if len(body) > MAX_ANSWER:
            raise MetadataError(f"instance metadata {path}: answer longer than {MAX_ANSWER} bytes")
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError:
            raise MetadataError(f"instance metadata {path}: answer is not text") from None

    def token(self) -> str:
        if self._token is None:
            token = self._request(
                "PUT",
                "latest/api/token",
                {"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_SECONDS)},
            )
            if not _TOKEN_RE.match(token):
                raise MetadataError("instance metadata returned something that is not a token")
            self._token = token
        return self._token

    def get(self, path: str, missing_ok: bool = False) -> str:
        return self._request(
            "GET",
            "latest/meta-data/" + path.lstrip("/"),
            {"X-aws-ec2-metadata-token": self.token()},
            missing_ok,
        )

    def _checked(self, path: str, pattern: re.Pattern[str], what: str) -> str:
        value = self.get(path)
        if not pattern.match(value):
            raise MetadataError(f"instance metadata {path}: {value[:40]!r} is not {what}")
        return value

    def region(self) -> str:
        return self._checked("placement/region", _REGION_RE, "a Region")

    def mac_for_eni(self, eni_id: str) -> str | None:
        """The MAC of eni_id among this instance's interfaces, or None if it is not one."""
        for mac in _mac_lines(self.get("network/interfaces/macs/")):
            if self.get(f"network/interfaces/macs/{mac}/interface-id", missing_ok=True) == eni_id:
                return mac
        return None

    def eni_for_mac(self, mac: str) -> str:
        try:
            return self._checked(
                f"network/interfaces/macs/{mac}/interface-id", _ENI_RE, "an ENI id"
            )
        except MetadataError as exc:
            raise MetadataError(
                f"instance metadata has no interface with MAC {mac}: {exc}"
            ) from None


_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _mac_lines(listing: str) -> list[str]:
    """The MACs of a macs/ listing; anything else is ignored (it goes into a path)."""
    return [m for m in (w.rstrip("/").lower() for w in listing.split()) if _MAC_RE.match(m)][:64]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
