"""The SigV4 example in docs/SECURITY.md runs as printed, against a local server that records the request."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.security


class _Recorder(BaseHTTPRequestHandler):
    received: ClassVar[dict[str, Any]] = {}

    def do_POST(self) -> None:
        _Recorder.received = {
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.rfile.read(int(self.headers["Content-Length"])),
        }
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"event_id": "e", "period": "2026-11"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_documented_signer_sends_a_sigv4_request(recorder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-example")
    text = (REPO_ROOT / "docs" / "SECURITY.md").read_text()
    found = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert found, "docs/SECURITY.md has a python example"
    code = re.sub(r'API_URL = "[^"]+"', f'API_URL = "{recorder}"', found.group(1))

    exec(compile(code, "docs/SECURITY.md", "exec"), {})

    request = _Recorder.received
    assert request["path"] == "/v1/scores"
    assert request["body"] == b'{"match_id": "m-1", "user_id": "alice", "points": 3}'
    authorization = request["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert request["headers"]["X-Amz-Security-Token"] == "session-example"
