"""The page's files on the local API port: only plain files of web/, typed, with nosniff and a strict CSP;
and the page's scripts never hand data to an HTML parser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local_runtime.web_page import CONTENT_TYPES, WebPage, page_origin
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.security

WEB_ROOT = REPO_ROOT / "web"
ORIGIN = "http://127.0.0.1:3456"
page = WebPage(WEB_ROOT)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ],
)
def test_page_files_are_served_with_their_type_and_security_headers(path: str, content_type: str) -> None:
    answer = page.answer("GET", path, ORIGIN)
    assert answer is not None and answer.status == 200
    assert answer.headers["Content-Type"] == content_type
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    policy = answer.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "connect-src 'self' ws://127.0.0.1:3456;" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert answer.body == (WEB_ROOT / ("index.html" if path == "/" else path[1:])).read_bytes()


def test_config_names_this_port_for_the_api_and_the_live_socket() -> None:
    answer = page.answer("GET", "/config.json", ORIGIN)
    assert answer is not None and answer.headers["Content-Type"] == "application/json"
    assert json.loads(answer.body) == {"api_base": ORIGIN, "live_url": "ws://127.0.0.1:3456/v1/live"}


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/..%2fpyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/web/app.js",
        "/.gitignore",
        "/..",
        "/app.js/",
        "//etc/passwd",
        "/README.md",
        "/missing.js",
        "/app.js%00.css",
        "/v1/leaderboards/monthly/top",
    ],
)
def test_anything_but_a_page_file_is_left_to_the_api_routes(path: str) -> None:
    assert page.answer("GET", path, ORIGIN) is None


def test_only_reads_are_answered() -> None:
    assert page.answer("POST", "/", ORIGIN) is None
    head = page.answer("HEAD", "/", ORIGIN)
    assert head is not None and head.status == 200


def test_every_file_of_the_page_has_a_known_type() -> None:
    assert {file.suffix for file in WEB_ROOT.iterdir()} <= set(CONTENT_TYPES)


HTML_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|\beval\(")


@pytest.mark.parametrize("script", sorted(WEB_ROOT.glob("*.js")), ids=lambda path: path.name)
def test_scripts_never_hand_text_to_the_html_parser(script: Path) -> None:
    assert HTML_SINKS.findall(script.read_text()) == []


def test_the_page_has_no_inline_script_or_style() -> None:
    html = (WEB_ROOT / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert "<style" not in html and " style=" not in html
    assert re.findall(r"\son[a-z]+\s*=", html) == []  # no inline event handler: the CSP would refuse it anyway


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("127.0.0.1:3456", "http://127.0.0.1:3456"),
        ("localhost:3456", "http://localhost:3456"),
        ("LOCALHOST:3456", "http://localhost:3456"),
        ("evil.example:3456", "http://127.0.0.1:3456"),
        ("localhost:9999", "http://127.0.0.1:3456"),
        ("127.0.0.1:3456 'unsafe-inline'", "http://127.0.0.1:3456"),
        (None, "http://127.0.0.1:3456"),
    ],
)
def test_the_config_and_policy_name_the_loopback_origin_the_browser_used(host: str | None, origin: str) -> None:
    assert page_origin(host, 3456) == origin
