"""Pagination as EC2 does it, which moto does not: small pages, the occasional empty page.

AWS: a Describe call given MaxResults may return fewer items than asked for, even none, with
a NextToken as long as more remain; the caller follows NextToken until there is none
(EC2 API Reference and EC2 Developer Guide, "Pagination"). A caller that stops at a short or
empty page loses items. moto ignores MaxResults and NextToken for these calls, so nothing ever
exercised that path.

This middleware pages the calls awsfailover paginates: it asks moto for everything, then
serves PAGE_SIZE items per page (fewer than any MaxResults AWS accepts) with every third page
empty. It also refuses what EC2 refuses: MaxResults out of range, and MaxResults together with
NetworkInterfaceIds.
"""

from __future__ import annotations

import io
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from typing import Any

from awsfailover.sim.faults import ec2_error, query_params

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

PAGE_SIZE = 2
EMPTY_EVERY = 3
# action -> (the item set element, MaxResults range the API accepts, id parameter it excludes)
PAGED = {
    "DescribeNetworkInterfaces": ("networkInterfaceSet", (5, 1000), "NetworkInterfaceId."),
    "DescribeRouteTables": ("routeTableSet", (5, 100), None),
}


class Pager:
    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if "/ec2/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.app(environ, start_response)
        params = query_params(environ)
        action = (params.get("Action") or [""])[0]
        paged = PAGED.get(action)
        if paged is None or not ({"MaxResults", "NextToken"} & set(params)):
            return self.app(environ, start_response)
        item_set, (low, high), excludes = paged
        try:
            max_results = int(params.get("MaxResults", [str(high)])[0])
            offset, page_no = _token((params.get("NextToken") or ["sim0.0"])[0])
        except ValueError:
            return ec2_error(
                start_response,
                "400 Bad Request",
                "InvalidParameterValue",
                "bad MaxResults or NextToken",
            )
        if not low <= max_results <= high:
            return ec2_error(
                start_response,
                "400 Bad Request",
                "InvalidParameterValue",
                f"MaxResults must be between {low} and {high}",
            )
        if excludes and any(k.startswith(excludes) for k in params):
            return ec2_error(
                start_response,
                "400 Bad Request",
                "InvalidParameterCombination",
                "The parameter NetworkInterfaceIds cannot be used with the parameter MaxResults",
            )
        rest = {k: v for k, v in params.items() if k not in ("MaxResults", "NextToken")}
        full = urllib.parse.urlencode(rest, doseq=True).encode()
        environ["wsgi.input"] = io.BytesIO(full)
        environ["CONTENT_LENGTH"] = str(len(full))
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _b: None

        out = b"".join(self.app(environ, capture))
        if not captured.get("status", "").startswith("200"):
            start_response(captured["status"], captured["headers"])
            return [out]
        page = _page(out, item_set, offset, page_no, min(PAGE_SIZE, max_results))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(page)))])
        return [page]


def _token(token: str) -> tuple[int, int]:
    if not token.startswith("sim"):
        raise ValueError(token)
    offset, page_no = token[3:].split(".")
    return int(offset), int(page_no)


def _page(xml: bytes, item_set: str, offset: int, page_no: int, size: int) -> bytes:
    root = ET.fromstring(xml)  # noqa: S314 - moto's own response
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    ET.register_namespace("", ns)
    q = f"{{{ns}}}" if ns else ""
    items_el = root.find(q + item_set)
    if items_el is None:
        return xml
    items = list(items_el)
    empty = page_no % EMPTY_EVERY == EMPTY_EVERY - 1
    keep = [] if empty else items[offset : offset + size]
    nxt = offset + len(keep)
    for item in items:
        if item not in keep:
            items_el.remove(item)
    if nxt < len(items):
        token = ET.SubElement(root, q + "nextToken")
        token.text = f"sim{nxt}.{page_no + 1}"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)
