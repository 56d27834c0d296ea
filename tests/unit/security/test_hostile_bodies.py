"""Bodies built to crash a parser or a handler get a 400 naming the problem, before any I/O.

Redis and Kafka point at closed ports: a request that got as far as either would be a 503.
"""

from __future__ import annotations

import json

import pytest

from tests.unit.test_handlers_on_sample_events import Handler, call, load, with_body

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
