"""Bodies built to crash a parser or a handler get a 400 naming the problem, before any I/O.

Redis and Kafka point at closed ports: a request that got as far as either would be a 503.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.support.handler_calls import Handler, call, load, sample, with_body

pytestmark = pytest.mark.security


@pytest.fixture(scope="module")
def ingest() -> Handler:
    return load("match_ingest")


DEEP = 100_000


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ('{"match_id": ' + "[" * DEEP + "]" * DEEP + ', "user_id": "u"}', "malformed_json", "body"),
        ('{"match_id": "m", "user_id": "u", "points": ' + "9" * 5000 + "}", "malformed_json", "body"),
        ('{"match_id": "m", "user_id": "u", "points": 1e400}', "malformed_json", "body"),
        ('{"match_id": "m", "user_id": "\\ud800"}', "malformed_json", "body"),
        ('{"match_id": "m", "user_id": "u", "points": NaN}', "malformed_json", "body"),
        ('{"match_id": "m", "user_id": "u"', "malformed_json", "body"),
        ('{"match_id": "m", "user_id": "u"} {"x": 1}', "malformed_json", "body"),
        ("[]", "invalid_request", "body"),
        ("null", "invalid_request", "body"),
        ('"a string"', "invalid_request", "body"),
        ("5", "invalid_request", "body"),
        ("   ", "invalid_request", "body"),
        ('{"match_id": "m", "user_id": "' + "x" * 900_000 + '"}', "invalid_request", "user_id"),
        ('{"match_id": "m", "user_id": "a\\r\\nSet-Cookie: x=1"}', "invalid_request", "user_id"),
        ('{"match_id": "m\\u0000", "user_id": "u"}', "invalid_request", "match_id"),
        ('{"match_id": "m", "user_id": "\\u202e"}', "invalid_request", "user_id"),
        ('{"match_id": {"$gt": ""}, "user_id": "u"}', "invalid_request", "match_id"),
        ('{"match_id": "m", "user_id": "u", "points": true}', "invalid_request", "points"),
        ('{"match_id": "m", "user_id": "u", "points": -9223372036854775808}', "invalid_request", "points"),
        ('{"match_id": "m", "user_id": "u", "points": 10001}', "invalid_request", "points"),
        ('{"match_id": "m", "user_id": "u", "occurred_at": 1.5}', "invalid_request", "occurred_at"),
        ('{"match_id": "m", "user_id": "u", "occurred_at": "2026-11-05T12:00:00"}', "invalid_request", "occurred_at"),
        ('{"match_id": "m", "user_id": "u", "is_admin": true}', "invalid_request", "is_admin"),
    ],
)
def test_hostile_single_scores(ingest: Handler, body: str, code: str, field: str) -> None:
    status, answer = call(ingest, with_body("post_score.json", body))
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, code, field)


@pytest.mark.parametrize(
    ("scores", "field"),
    [
        ([], "scores"),
        ([{"match_id": f"m{i}", "user_id": "u"} for i in range(501)], "scores"),
        ("not a list", "scores"),
        ([{"match_id": "m", "user_id": "u"}, "not an event"], "scores.1"),
    ],
)
def test_hostile_batches(ingest: Handler, scores: object, field: str) -> None:
    status, answer = call(ingest, with_body("post_score_batch.json", {"scores": scores}))
    assert (status, answer["error"]["field"]) == (400, field)


def test_a_body_of_exactly_one_mebibyte_is_read_and_one_byte_more_is_413(ingest: Handler) -> None:
    padding = 1024 * 1024 - len(json.dumps({"match_id": "m", "user_id": "u", "pad": ""}))
    at_limit = json.dumps({"match_id": "m", "user_id": "u", "pad": "x" * padding})
    status, answer = call(ingest, with_body("post_score.json", at_limit))
    assert (status, answer["error"]["field"]) == (400, "pad")
    status, answer = call(ingest, with_body("post_score.json", at_limit + " "))
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")


def test_the_batch_ceiling_is_configurable() -> None:
    from local_runtime.lambda_host import environment_overlay

    with environment_overlay({"MAX_EVENTS_PER_BATCH": "2"}):
        small = load("match_ingest")
    scores = [{"match_id": f"m{i}", "user_id": "u"} for i in range(3)]
    status, answer = call(small, with_body("post_score_batch.json", {"scores": scores}))
    assert (status, answer["error"]["field"]) == (400, "scores")
    assert "at most 2" in answer["error"]["message"]


def _with_content_type(event: dict[str, Any], content_type: str | None) -> dict[str, Any]:
    headers = {name: value for name, value in event["headers"].items() if name.lower() != "content-type"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return {**event, "headers": headers, "multiValueHeaders": {name: [value] for name, value in headers.items()}}


def _as_binary(event: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The event API Gateway builds for a binary media type: the body base64-encoded."""
    return {**event, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}


ZERO_POINTS = json.dumps({"match_id": "m", "user_id": "u", "points": 0})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"match_id": "m", "user_id": "u", "points": 1, "points": 10000}', "points"),
        ('{"match_id": "m", "user_id": "u", "p\\u006fints": 1, "points": 10000}', "points"),
        ('{"match_id": "m", "match_id": "m", "user_id": "u"}', "match_id"),
        ('{"scores": [{"match_id": "m", "user_id": "u"}], "scores": []}', "scores"),
        (
            '{"scores": [{"match_id": "a", "user_id": "u"}, {"match_id": "b", "user_id": "u", "user_id": "v"}]}',
            "scores.1.user_id",
        ),
        ('{"match_id": "m", "user_id": "u", "x": {"y": [{}, {"z": 1, "z": 2}]}}', "x.y.1.z"),
    ],
)
def test_a_repeated_key_is_a_400_naming_it(ingest: Handler, body: str, field: str) -> None:
    name = "post_score_batch.json" if '"scores"' in body else "post_score.json"
    status, answer = call(ingest, with_body(name, body))
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, "duplicate_key", field)
    assert repr(field.rsplit(".", 1)[-1]) in answer["error"]["message"]


def test_nesting_that_orjson_takes_but_the_key_check_cannot_follow_is_malformed(ingest: Handler) -> None:
    body = '{"match_id": ' + "[" * 1020 + "]" * 1020 + ', "user_id": "u"}'
    status, answer = call(ingest, with_body("post_score.json", body))
    assert (status, answer["error"]["code"]) == (400, "malformed_json")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"match_id": "m\xff", "user_id": "u"}',
        b'{"match_id": "m\xc3", "user_id": "u"}',
        b'{"match_id": "m\xed\xa0\x80", "user_id": "u"}',  # an encoded surrogate
        b"\xff\xfe{}",
    ],
)
def test_a_binary_body_that_is_not_utf8_is_a_400(ingest: Handler, raw: bytes) -> None:
    status, answer = call(ingest, _as_binary(sample("post_score.json"), raw))
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (400, "invalid_encoding", "body")


def test_a_text_body_where_api_gateway_replaced_bytes_is_a_400(ingest: Handler) -> None:
    """Without a binary media type, API Gateway hands 0xff over as U+FFFD: two match ids would become one."""
    for mangled in ('{"match_id": "m\ufffd", "user_id": "u"}', '{"match_id": "m\ud800", "user_id": "u"}'):
        status, answer = call(ingest, with_body("post_score.json", mangled))
        assert (status, answer["error"]["code"]) == (400, "invalid_encoding")


def test_a_binary_body_that_is_utf8_is_read_like_text(ingest: Handler) -> None:
    status, answer = call(ingest, _as_binary(sample("post_score.json"), ZERO_POINTS.encode()))
    assert (status, answer["error"]["field"]) == (400, "points")
    event = {**sample("post_score.json"), "body": "not base64!", "isBase64Encoded": True}
    assert call(ingest, event)[1]["error"]["code"] == "invalid_encoding"


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/JSON",
        "Application/Json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON;CHARSET=UTF-8",
        'application/json; charset="UTF-8"',
        "application/json ; charset=utf-8; foo=bar",
        None,
    ],
)
def test_json_in_any_case_and_with_parameters_is_json(ingest: Handler, content_type: str | None) -> None:
    event = _with_content_type(with_body("post_score.json", ZERO_POINTS), content_type)
    status, answer = call(ingest, event)
    assert (status, answer["error"]["field"]) == (400, "points"), answer


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "application/jsonp",
        "application/json-patch+json",
    ],
)
def test_other_media_types_are_415_in_the_error_shape(ingest: Handler, content_type: str) -> None:
    status, answer = call(ingest, _with_content_type(with_body("post_score.json", ZERO_POINTS), content_type))
    assert (status, answer["error"]["code"], answer["error"]["field"]) == (
        415,
        "unsupported_media_type",
        "content-type",
    )
