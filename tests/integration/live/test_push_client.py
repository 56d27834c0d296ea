"""The management API client against an endpoint that accepts and never answers: a push gives up
after a bounded number of attempts and raises PushFailed, so one stalled endpoint cannot hold the
notifier until its function times out."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from shared.adapters import live_push
from shared.application.live import PushFailed

pytestmark = pytest.mark.live


class SilentEndpoint:
    """Accepts connections on a free loopback port, reads nothing and answers nothing."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.accepted: list[socket.socket] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._server.accept()
            except TimeoutError:
                continue
            self.accepted.append(connection)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        for connection in self.accepted:
            connection.close()
        self._server.close()


@pytest.fixture
def silent_endpoint() -> Iterator[SilentEndpoint]:
    endpoint = SilentEndpoint()
    yield endpoint
    endpoint.close()


def test_a_push_to_a_silent_endpoint_fails_after_bounded_attempts(
    silent_endpoint: SilentEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setattr(live_push, "PUSH_READ_TIMEOUT_SECONDS", 0.2)  # the bound, made short for the test
    push = live_push.api_gateway_push(silent_endpoint.url, "us-east-1")
    with pytest.raises(PushFailed):
        push.send("L0SM9cOFvHcCIhw=", b'{"type": "top"}')
    assert 1 <= len(silent_endpoint.accepted) <= live_push.PUSH_ATTEMPTS
