"""The local WebSocket gateway against clients that misbehave on purpose: one that never reads,
one that splits a message into a flood of empty fragments, and management API requests whose
framing could be read two ways."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from local_runtime.stack import RunningStack
from tests.support.raw_websocket import OPCODE_CONT, OPCODE_TEXT, client_frame, raw_upgrade, read_server_frame
from tests.support.waiting import wait_for

pytestmark = pytest.mark.live

HANG_GUARD_SECONDS = 30.0  # a bound on a call that must not wait on a client at all, not a timing check
MAX_FILLING_POSTS = 400  # 40 MB of pushes: far more than any socket buffer holds


def post_to_connection(stack: RunningStack, connection_id: str, data: bytes) -> int:
    request = urllib.request.Request(
        f"{stack.api_url}/@connections/{quote(connection_id, safe='')}", data=data, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=HANG_GUARD_SECONDS) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def only_connection(stack: RunningStack) -> str:
    wait_for(lambda: len(stack.live.open_connections()) == 1, what="the raw client's connection")
    (connection_id,) = stack.live.open_connections()
    return connection_id


def test_a_client_that_never_reads_is_dropped_instead_of_holding_up_pushes(stack: RunningStack) -> None:
    stuck = raw_upgrade(stack.live_url, receive_buffer=4096)
    try:
        connection_id = only_connection(stack)
        message = json.dumps({"type": "top", "padding": "x" * 100_000}).encode()
        statuses = []
        for _ in range(MAX_FILLING_POSTS):
            statuses.append(post_to_connection(stack, connection_id, message))
            if statuses[-1] != 200:
                break
        assert statuses[-1] == 410, f"every one of {len(statuses)} pushes was taken by a client that never reads"
        wait_for(lambda: connection_id not in stack.live.open_connections(), what="the stuck connection to close")
    finally:
        stuck.close()


def test_a_message_in_a_flood_of_empty_fragments_costs_linear_work(stack: RunningStack) -> None:
    empty_fragments = 150_000  # 900 KB on the wire; quadratic bookkeeping would take hours
    client = raw_upgrade(stack.live_url, timeout=HANG_GUARD_SECONDS)
    try:
        only_connection(stack)
        client.sendall(client_frame(OPCODE_TEXT, b'{"action": "subscribe", ', fin=False))
        client.sendall(client_frame(OPCODE_CONT, b"", fin=False) * empty_fragments)
        client.sendall(client_frame(OPCODE_CONT, b'"window": "monthly"}', fin=True))
        opcode, payload = read_server_frame(client)
    finally:
        client.close()
    assert opcode == OPCODE_TEXT
    assert json.loads(payload)["type"] == "top"


def raw_http(stack: RunningStack, request: bytes) -> bytes:
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_SECONDS) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 2\r\nContent-Length: 40\r\n",
        b"Content-Length: -1\r\n",
        b"Transfer-Encoding: chunked\r\n",
    ],
    ids=["two lengths", "negative length", "chunked"],
)
def test_the_management_api_refuses_framing_that_reads_two_ways(stack: RunningStack, framing: bytes) -> None:
    answer = raw_http(
        stack,
        b"POST /@connections/abc HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + b"\r\n2\r\n{}\r\n0\r\n\r\n",
    )
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 411), answer


def test_deeply_nested_json_is_answered_with_an_error_message_not_a_dropped_connection(stack: RunningStack) -> None:
    client = raw_upgrade(stack.live_url, timeout=HANG_GUARD_SECONDS)
    try:
        only_connection(stack)
        client.sendall(client_frame(OPCODE_TEXT, b"[" * 2000 + b"]" * 2000, fin=True))
        opcode, payload = read_server_frame(client)
    finally:
        client.close()
    assert opcode == OPCODE_TEXT
    assert json.loads(payload) == {"type": "error", "code": "invalid_message", "message": "the message is not JSON"}
