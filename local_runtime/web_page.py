"""The browser page (web/) on the local API Gateway's port: `/`, its assets and `/config.json`.

Only files that exist directly in web/ with a known type are served; anything else falls through
to the API routes (and their JSON 404). `/config.json` tells the page where the API and the live
socket are: this same port. Every answer carries nosniff and a Content-Security-Policy that lets
the page load only its own files and talk only to this origin and its WebSocket.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
CONFIG_PATH = "/config.json"
LIVE_PATH = "/v1/live"
# One plain file name: no folder, no dot file, no percent-encoding, no traversal.
_ASSET_NAME = re.compile(r"/([A-Za-z0-9_-][A-Za-z0-9_.-]{0,99})")


def page_origin(host_header: str | None, port: int) -> str:
    """The origin the browser used, when it is this port on a loopback name; else 127.0.0.1's.

    The page then calls its own origin (localhost or 127.0.0.1 alike) and needs no CORS; any other
    Host is not echoed into the config or the policy.
    """
    loopback = {f"127.0.0.1:{port}", f"localhost:{port}"}
    host = (host_header or "").strip().lower()
    return f"http://{host}" if host in loopback else f"http://127.0.0.1:{port}"


def content_security_policy(connect_sources: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src 'self' {connect_sources}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class PageAnswer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class WebPage:
    root: Path

    def answer(self, method: str, path: str, api_origin: str) -> PageAnswer | None:
        """The page's answer to GET/HEAD `path` (undecoded), or None when the path is not the page's."""
        if method not in ("GET", "HEAD"):
            return None
        live_url = "ws" + api_origin.removeprefix("http") + LIVE_PATH
        if path == CONFIG_PATH:
            config = {"api_base": api_origin, "live_url": live_url}
            return self._answer(json.dumps(config).encode(), ".json", live_url)
        name = "index.html" if path == "/" else _asset_name(path)
        if name is None:
            return None
        file = self.root / name
        suffix = file.suffix.lower()
        if suffix not in CONTENT_TYPES or name == CONFIG_PATH.lstrip("/") or not file.is_file():
            return None
        return self._answer(file.read_bytes(), suffix, live_url)

    @staticmethod
    def _answer(body: bytes, suffix: str, live_url: str) -> PageAnswer:
        live_origin = live_url.removesuffix(LIVE_PATH)
        headers = {
            "Content-Type": CONTENT_TYPES[suffix],
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": content_security_policy(live_origin),
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cache-Control": "no-cache",
        }
        return PageAnswer(200, headers, body)


def _asset_name(path: str) -> str | None:
    found = _ASSET_NAME.fullmatch(path)
    if found is None or ".." in found.group(1):
        return None
    return found.group(1)
