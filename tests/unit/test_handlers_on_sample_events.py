"""The handlers on the sample events in events/, with Redis and Kafka pointed at closed ports.

Bad input must be answered before any I/O: were Redis or Kafka touched, the answer would
be a 503 after a connection failure instead of the 4xx asserted here.
"""

import pytest

from shared.domain.boards import DAY_MS
from shared.domain.timestamps import now_ms
from tests.support.handler_calls import Handler, call, load, sample, with_body, with_query


@pytest.fixture(scope="module")
def ingest() -> Handler:
    return load("match_ingest")


@pytest.fixture(scope="module")
def query() -> Handler:
    return load("leaderboard_query")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u"}, "match_id"),
        ({"match_id": "m", "user_id": ""}, "user_id"),
        ({"match_id": "m", "user_id": "a\u0007b"}, "user_id"),
        ({"match_id": "m", "user_id": "u", "points": 0}, "points"),
        ({"match_id": "m", "user_id": "u", "points": 10_001}, "points"),
        ({"match_id": "m", "user_id": "u", "occurred_at": "soon"}, "occurred_at"),
        ({"match_id": "m", "user_id": "u", "occurred_at": now_ms() + DAY_MS}, "occurred_at"),
        ([{"match_id": "m", "user_id": "u"}], "body"),
        ("{not json", "body"),
        ("", "body"),
    ],
)
def test_bad_single_scores_are_refused_naming_the_field(ingest: Handler, body: object, field: str) -> None:
    status, answer = call(ingest, with_body("post_score.json", body))
    assert status == 400
    assert answer["error"]["field"] == field
    assert field in answer["error"]["message"] or field == "body"


def test_one_bad_event_refuses_the_whole_batch(ingest: Handler) -> None:
    scores = [{"match_id": f"m{i}", "user_id": "u"} for i in range(3)] + [
        {"match_id": "m9", "user_id": "u", "points": -5}
    ]
    status, answer = call(ingest, with_body("post_score_batch.json", {"scores": scores}))
    assert status == 400
    assert answer["error"]["field"] == "scores.3.points"


def test_oversized_body_is_413(ingest: Handler) -> None:
    status, answer = call(ingest, with_body("post_score.json", "x" * (1024 * 1024 + 1)))
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")


def test_kafka_unreachable_is_503(ingest: Handler) -> None:
    status, answer = call(ingest, sample("post_score.json"))
    assert (status, answer["error"]["code"]) == (503, "kafka_unavailable")
    assert answer["error"]["message"] == "scores cannot be accepted right now; retry shortly"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"period": "2026-13"}, "period"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_bad_top_queries_are_refused(query: Handler, params: dict[str, str], field: str) -> None:
    status, answer = call(query, with_query("get_top.json", **params))
    assert (status, answer["error"]["field"]) == (400, field)


@pytest.mark.parametrize(("params", "field"), [({"around": "51"}, "around"), ({"period": "2026/11"}, "period")])
def test_bad_player_queries_are_refused(query: Handler, params: dict[str, str], field: str) -> None:
    status, answer = call(query, with_query("get_player.json", **params))
    assert (status, answer["error"]["field"]) == (400, field)


@pytest.mark.parametrize(
    ("path", "params", "status", "field"),
    [
        ("/v1/leaderboards/weekly/top", {"period": "2026-12"}, 400, "period"),
        ("/v1/leaderboards/daily/users/someone", {"period": "2026-W49"}, 400, "period"),
        ("/v1/leaderboards/alltime/top", {"ties": "sometimes"}, 400, "ties"),
        ("/v1/leaderboards/hourly/top", {}, 404, "window"),
        ("/v1/leaderboards/hourly/periods", {}, 404, "window"),
    ],
)
def test_bad_window_queries_are_refused_before_redis(
    query: Handler, path: str, params: dict[str, str], status: int, field: str
) -> None:
    event = with_query("get_top.json", **params)
    event["path"] = path
    answer = call(query, event)
    assert (answer[0], answer[1]["error"]["field"]) == (status, field)


def test_redis_unreachable_is_503(query: Handler) -> None:
    status, answer = call(query, sample("get_top.json"))
    assert (status, answer["error"]["code"]) == (503, "redis_unavailable")


@pytest.mark.parametrize("name", ["get_top_weekly.json", "get_periods.json"])
def test_window_samples_reach_redis(query: Handler, name: str) -> None:
    status, answer = call(query, sample(name))
    assert (status, answer["error"]["code"]) == (503, "redis_unavailable"), "routed and valid: only Redis is missing"
