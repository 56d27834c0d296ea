"""Unauthenticated writes and hostile input over HTTP: each gets a 4xx JSON error, and nothing is written.

Every test here is checked on its own (`nothing_gets_through`): the topic's end offsets do not move and
no board holds a member of this module's, whichever tests run and in whatever order.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from local_runtime.stack import RunningStack
from shared.domain.timestamps import now_ms
from tests.support.direct_reads import board_members_starting_with, topic_end_offsets

pytestmark = pytest.mark.security

TAG = uuid.uuid4().hex[:8]
WRITES = ("/v1/scores", "/v1/scores/batch")
TOP = "/v1/leaderboards/monthly/top"
PLAYER = "/v1/leaderboards/monthly/users/"
MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def nothing_gets_through(stack: RunningStack) -> Iterator[None]:
    """Ingest produces before it answers, so a record a request let through has moved an end offset by
    the time its answer is read; the boards are checked too, for this module's own ids."""
    before = topic_end_offsets(stack.kafka_bootstrap, stack.topic)
    yield
    assert topic_end_offsets(stack.kafka_bootstrap, stack.topic) == before, "a refused request reached Kafka"
    assert board_members_starting_with(stack.redis_url, TAG) == {}, "a refused request reached a board"


def event(**fields: Any) -> dict[str, Any]:
    return {"match_id": f"{TAG}-m", "user_id": f"{TAG}-u", "points": 1, **fields}


def body_for(path: str, **fields: Any) -> dict[str, Any]:
    return event(**fields) if path == "/v1/scores" else {"scores": [event(**fields)]}


def send(
    stack: RunningStack,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    *,
    key: str | None = "default",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request over a fresh connection; the answer must be JSON whatever the status."""
    target = urlsplit(stack.api_url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["x-api-key"] = stack.api_key if key == "default" else key
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), payload[:200]
        return response.status, json.loads(payload)
    finally:
        connection.close()


def post(stack: RunningStack, path: str, document: object, **options: Any) -> tuple[int, dict[str, Any]]:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    return send(stack, "POST", path, raw, **options)


# --- who may write -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", WRITES)
@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("", 403), ("wrong-key", 403), ("LOCAL-DEV-KEY", 403), ("local-dev-key\x7f", 403)],
)
def test_writes_without_the_right_key_are_refused(stack: RunningStack, path: str, key: str | None, status: int) -> None:
    answer_status, answer = post(stack, path, body_for(path), key=key)
    assert answer_status == status
    assert answer["error"]["code"] in ("unauthorized", "forbidden")
    assert stack.api_key not in json.dumps(answer)


def test_the_key_is_checked_before_the_body_is_read(stack: RunningStack) -> None:
    assert post(stack, "/v1/scores", b"x" * (2 * MIB), key=None)[0] == 401


def test_the_key_in_the_query_string_does_not_count(stack: RunningStack) -> None:
    status, _ = post(stack, f"/v1/scores?x-api-key={stack.api_key}", body_for("/v1/scores"), key=None)
    assert status == 401


def test_reads_need_no_key(stack: RunningStack) -> None:
    # The current month: a closed month nobody scored in (2001-01 here) is a 404 period_not_found.
    assert send(stack, "GET", TOP, key=None)[0] == 200


# --- bounds on what is written ------------------------------------------------------------------


# 2019-06-15T10:00:00Z: every calendar board of that time closed long ago, and the all-time board
# starts in 2020, so no enabled board takes it.
TOO_LATE_FOR_EVERY_BOARD = 1_560_592_800_000


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"match_id": ""}, "match_id"),
        ({"match_id": "x" * 129}, "match_id"),
        ({"user_id": "tab\there"}, "user_id"),
        ({"user_id": "line\r\nbreak"}, "user_id"),
        ({"user_id": "\u2028"}, "user_id"),
        ({"user_id": "x" * (MIB - 200)}, "user_id"),
        ({"points": 0}, "points"),
        ({"points": -1}, "points"),
        ({"points": 10_001}, "points"),
        ({"points": "7"}, "points"),
        ({"points": 2.0}, "points"),
        ({"occurred_at": "soon"}, "occurred_at"),
        ({"occurred_at": "2026-11-05 12:00:00"}, "occurred_at"),
        ({"occurred_at": "20261105T120000Z"}, "occurred_at"),
        ({"occurred_at": "2026-W45-4T12:00:00Z"}, "occurred_at"),
        ({"occurred_at": [1]}, "occurred_at"),
        ("future", "occurred_at"),
        ("late", "occurred_at"),
    ],
)
@pytest.mark.parametrize("path", WRITES)
def test_each_bound_is_a_400_naming_the_field(stack: RunningStack, path: str, fields: Any, field: str) -> None:
    if fields == "future":
        fields = {"occurred_at": now_ms() + 10 * 60_000}
    elif fields == "late":
        fields = {"occurred_at": TOO_LATE_FOR_EVERY_BOARD}
    status, answer = post(stack, path, body_for(path, **fields))
    expected = field if path == "/v1/scores" else f"scores.0.{field}"
    assert (status, answer["error"]["field"]) == (400, expected), answer
    assert expected in answer["error"]["message"]


def test_an_event_late_for_every_board_names_each_closed_period(stack: RunningStack) -> None:
    status, answer = post(stack, "/v1/scores", event(occurred_at=TOO_LATE_FOR_EVERY_BOARD))
    assert (status, answer["error"]["field"]) == (400, "occurred_at")
    for closed in ("daily 2019-06-15", "weekly 2019-W24", "monthly 2019-06", "alltime"):
        assert closed in answer["error"]["message"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"[]", "invalid_request"),
        (b'"scores"', "invalid_request"),
        (b"42", "invalid_request"),
        (b"null", "invalid_request"),
        (b"", "invalid_request"),
        (b'{"match_id": "m", ', "malformed_json"),
        (b"\xff\xfe{}", "invalid_encoding"),
        (b'{"match_id": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "malformed_json"),
    ],
)
@pytest.mark.parametrize("path", WRITES)
def test_bodies_that_are_not_a_json_object(stack: RunningStack, path: str, raw: bytes, code: str) -> None:
    status, answer = post(stack, path, raw)
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, code, "body")


@pytest.mark.parametrize("path", WRITES)
def test_huge_bodies_are_413(stack: RunningStack, path: str) -> None:
    status, answer = post(stack, path, {"pad": "x" * (2 * MIB)})
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")


def test_a_chunked_body_is_refused(stack: RunningStack) -> None:
    status, _ = send(
        stack, "POST", "/v1/scores", iter([b'{"match_id": "m"}']), headers={"Transfer-Encoding": "chunked"}
    )
    assert status == 411


@pytest.mark.parametrize(("count", "field"), [(0, "scores"), (501, "scores")])
def test_batches_outside_1_to_500(stack: RunningStack, count: int, field: str) -> None:
    scores = [event(match_id=f"{TAG}-{i}") for i in range(count)]
    status, answer = post(stack, "/v1/scores/batch", {"scores": scores})
    assert (status, answer["error"]["field"]) == (400, field)


def test_one_bad_event_refuses_the_whole_batch(stack: RunningStack) -> None:
    scores = [event(match_id=f"{TAG}-ok-{i}") for i in range(499)] + [event(points=0)]
    status, answer = post(stack, "/v1/scores/batch", {"scores": scores})
    assert (status, answer["error"]["field"]) == (400, "scores.499.points")


# --- query parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period=" + quote("2026-11' OR '1'='1"), "period"),
        ("period=" + quote("2026-11\x00"), "period"),
        ("period=" + quote("2026-11\r\nX-Injected: 1"), "period"),
        ("period=11-2026", "period"),
        ("period=2026-13", "period"),
        ("limit=1e9", "limit"),
        ("limit=1000000000", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=" + "9" * 5000, "limit"),
        ("offset=-1", "offset"),
        ("offset=100000001", "offset"),
        ("offset=0x10", "offset"),
    ],
)
def test_top_query_parameters_out_of_range_or_injected(stack: RunningStack, query: str, field: str) -> None:
    status, answer = send(stack, "GET", f"{TOP}?{query}", key=None)
    assert (status, answer["error"]["field"]) == (400, field), answer


@pytest.mark.parametrize(
    ("user_id", "query", "status", "field"),
    [
        ("alice", "around=-1", 400, "around"),
        ("alice", "around=51", 400, "around"),
        ("alice", "around=1.5", 400, "around"),
        ("alice", "period=" + quote("2026-11; DROP"), 400, "period"),
        (quote("a\r\nSet-Cookie: x=1", safe=""), "", 400, "user_id"),
        (quote("nul\x00", safe=""), "", 400, "user_id"),
        ("x" * 129, "", 400, "user_id"),
        (quote("é" * 129, safe=""), "", 400, "user_id"),
        ("%FF", "", 400, "user_id"),
        (quote(" alice", safe=""), "", 400, "user_id"),
        (quote("../../etc/passwd", safe=""), "", 404, None),
        ("..", "", 404, None),
        (quote("*", safe=""), "", 404, None),
    ],
)
def test_player_path_and_query_injected(
    stack: RunningStack, user_id: str, query: str, status: int, field: str | None
) -> None:
    answer_status, answer = send(stack, "GET", f"{PLAYER}{user_id}?period=2001-01&{query}", key=None)
    assert answer_status == status, answer
    if field is not None:
        assert answer["error"]["field"] == field


def raw_exchange(stack: RunningStack, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send `request` as is on a fresh socket; the status and JSON body of the answer, read to the end.

    The gateway closes the connection after a refusal: reading to EOF shows the whole answer arrived
    before the connection ended, rather than a reset in its place.
    """
    target = urlsplit(stack.api_url)
    reply = b""
    with socket.create_connection((target.hostname or "127.0.0.1", target.port or 80), timeout=10) as connection:
        connection.sendall(request)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1."), reply[:200]
    assert b"content-type: application/json" in head.lower(), head
    return int(status_line.split()[1]), json.loads(payload)


def test_a_malformed_request_line_gets_a_json_error(stack: RunningStack) -> None:
    status, answer = raw_exchange(stack, b"GET /v1/leaderboards/monthly/top HTTP/1.1 extra\r\nHost: x\r\n\r\n")
    assert (status, answer["error"]["code"]) == (400, "bad_request")


def framed(*headers: bytes) -> bytes:
    """A POST of a 17-byte body with `headers`; Connection: close, so any answer ends the exchange."""
    lines = [b"POST /v1/scores HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b'\r\n\r\n{"match_id": "m"}'


@pytest.mark.parametrize(
    "headers",
    [
        (b"x-api-key: @", b"Content-Length: \xb2"),  # Latin-1 superscript two: str.isdigit() says yes
        (b"x-api-key: @", b"Content-Length: \xb9\xb2"),
        (b"x-api-key: @", "Content-Length: \u0661\u0667".encode()),  # Arabic-Indic digits
        (b"x-api-key: @", "Content-Length: \uff11\uff17".encode()),  # full-width digits
        (b"x-api-key: @", b"Content-Length: +17"),
        (b"x-api-key: @", b"Content-Length: 17, 17"),
        (b"x-api-key: @", b"Content-Length: 17", b"Content-Length: 5"),
        (b"x-api-key: @", b"Content-Length: 17", b"Content-Length: 17"),
        (b"x-api-key: @", b"x-api-key: @", b"Content-Length: 17"),
        (b"x-api-key: wrong", b"x-api-key: @", b"Content-Length: 17"),
        (b"x-api-key: @", b"X-API-KEY: wrong", b"Content-Length: 17"),
    ],
)
def test_framing_that_reads_two_ways_is_a_400(stack: RunningStack, headers: tuple[bytes, ...]) -> None:
    keyed = tuple(header.replace(b"@", stack.api_key.encode()) for header in headers)
    status, answer = raw_exchange(stack, framed(*keyed))
    assert (status, answer["error"]["code"]) == (400, "bad_request"), answer


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",  # h2 prior knowledge
        b"GET /v1/leaderboards/monthly/top HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n",
    ],
)
def test_an_http2_request_line_is_a_400(stack: RunningStack, request_bytes: bytes) -> None:
    status, answer = raw_exchange(stack, request_bytes)
    assert (status, answer["error"]["code"]) == (400, "unsupported_http_version"), answer


def test_gateway_refusals_use_the_error_shape(stack: RunningStack) -> None:
    assert send(stack, "GET", "/v1/scores")[1]["error"]["code"] == "method_not_allowed"
    assert send(stack, "DELETE", TOP, key=None)[0] == 405
    assert send(stack, "GET", "/v1/nowhere", key=None) == (
        404,
        {"error": {"code": "not_found", "message": "no route for /v1/nowhere"}},
    )


# --- bodies that must be read one way only ------------------------------------------------------


@pytest.mark.parametrize("path", WRITES)
def test_bytes_that_are_not_utf8_are_a_400_not_a_replacement_character(stack: RunningStack, path: str) -> None:
    """0xff and 0xfe would both become U+FFFD: two match ids that collide into one event."""
    for byte in (b"\xff", b"\xfe"):
        raw = json.dumps(body_for(path, match_id="m-@")).encode().replace(b"@", byte)
        status, answer = post(stack, path, raw)
        assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, "invalid_encoding", "body")


@pytest.mark.parametrize("path", WRITES)
def test_a_repeated_key_is_a_400_over_http(stack: RunningStack, path: str) -> None:
    raw = json.dumps(body_for(path)).encode().replace(b'"points": 1', b'"points": 1, "points": 10000')
    status, answer = post(stack, path, raw)
    expected = "points" if path == "/v1/scores" else "scores.0.points"
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, "duplicate_key", expected)


@pytest.mark.parametrize("content_type", ["APPLICATION/JSON", "Application/JSON; Charset=UTF-8"])
def test_json_in_upper_case_is_read_as_json(stack: RunningStack, content_type: str) -> None:
    status, answer = post(stack, "/v1/scores", event(points=0), headers={"Content-Type": content_type})
    assert (status, answer["error"]["field"]) == (400, "points")


def test_a_body_that_is_not_json_is_415_in_the_error_shape(stack: RunningStack) -> None:
    status, answer = post(stack, "/v1/scores", event(), headers={"Content-Type": "text/plain"})
    assert (status, answer["error"]["code"]) == (415, "unsupported_media_type")


@pytest.mark.parametrize(
    "user_id", [" lead", "trail ", "   ", "zero\u200bwidth", "\u0301mark", "bidi\u202e", "soft\u00adhyphen"]
)
def test_ambiguous_ids_are_refused_over_http(stack: RunningStack, user_id: str) -> None:
    status, answer = post(stack, "/v1/scores", event(user_id=user_id))
    assert (status, answer["error"]["field"]) == (400, "user_id")
