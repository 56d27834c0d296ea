"""The whole path on real servers: HTTP → match_ingest → Kafka → MSK trigger → score_updater → Redis → queries."""

from __future__ import annotations

import unicodedata
import urllib.parse
import uuid
from typing import Any

import pytest

from local_runtime.stack import RunningStack
from tests.support.direct_reads import board_points, topic_values
from tests.support.http_api import Api
from tests.support.past_months import Month
from tests.support.waiting import wait_for

TOP = "/v1/leaderboards/monthly/top"


def tag() -> str:
    return uuid.uuid4().hex[:8]


def standing(api: Api, month: Month, user_id: str, around: int = 0) -> tuple[int, dict[str, Any]]:
    return api.get(f"/v1/leaderboards/monthly/users/{user_id}?period={month.period}&around={around}")


def visible(api: Api, month: Month, user_id: str, points: int) -> dict[str, Any] | None:
    status, body = standing(api, month, user_id)
    return body if status == 200 and body["points"] == points else None


def test_a_posted_score_becomes_visible_in_top_and_rank(api: Api, month: Month) -> None:
    user = f"alice-{tag()}"
    status, body = api.post(
        "/v1/scores", {"match_id": f"m-{tag()}", "user_id": user, "points": 7, "occurred_at": month.at(60)}
    )
    assert status == 202
    assert body["period"] == month.period and len(body["event_id"]) == 32

    mine = wait_for(lambda: visible(api, month, user, 7), what="the score to reach the board")
    assert (mine["rank"], mine["total"], mine["percentile"]) == (1, 1, 100.0)
    status, top = api.get(f"{TOP}?period={month.period}")
    assert status == 200
    assert top == {"period": month.period, "total": 1, "entries": [{"rank": 1, "user_id": user, "points": 7}]}


def test_ties_go_to_whoever_reached_the_total_first(api: Api, month: Month) -> None:
    early, late, t = f"early-{tag()}", f"late-{tag()}", tag()
    # `late` is posted first, but reached 5 points at minute 10; `early` reached 5 at minute 5.
    scores = [
        {"match_id": f"a-{t}", "user_id": late, "points": 5, "occurred_at": month.at(600)},
        {"match_id": f"b-{t}", "user_id": early, "points": 2, "occurred_at": month.at(60)},
        {"match_id": f"c-{t}", "user_id": early, "points": 3, "occurred_at": month.at(300)},
        {"match_id": f"d-{t}", "user_id": f"third-{t}", "points": 4, "occurred_at": month.at(1)},
    ]
    assert api.post("/v1/scores/batch", {"scores": scores})[0] == 202
    wait_for(lambda: visible(api, month, early, 5) and visible(api, month, late, 5), what="both players")
    wait_for(lambda: visible(api, month, f"third-{t}", 4), what="the third player")
    _, top = api.get(f"{TOP}?period={month.period}&limit=3")
    assert [(e["user_id"], e["points"]) for e in top["entries"]] == [(early, 5), (late, 5), (f"third-{t}", 4)]


def test_the_same_match_and_user_count_once(api: Api, month: Month, stack: RunningStack) -> None:
    user, match = f"dup-{tag()}", f"m-{tag()}"
    event = {"match_id": match, "user_id": user, "points": 3, "occurred_at": month.at(10)}
    first = api.post("/v1/scores", event)
    again = api.post("/v1/scores", event)
    in_a_batch = api.post("/v1/scores/batch", {"scores": [event, event]})
    assert first[0] == again[0] == 202 and first[1] == again[1]
    assert (in_a_batch[0], in_a_batch[1]["accepted"], in_a_batch[1]["duplicates"]) == (202, 2, 2)
    marker = f"marker-{tag()}"
    api.post("/v1/scores", {"match_id": f"m-{tag()}", "user_id": marker, "points": 1, "occurred_at": month.at(20)})
    wait_for(lambda: visible(api, month, user, 3) and visible(api, month, marker, 1), what="the scores")
    assert board_points(stack.redis_url, month.period)[user] == 3
    assert sum(1 for v in topic_values(stack.kafka_bootstrap, stack.topic) if v["match_id"] == match) == 1


def test_a_resubmission_with_other_points_is_409_and_changes_nothing(
    api: Api, month: Month, stack: RunningStack
) -> None:
    user, match = f"conflict-{tag()}", f"m-{tag()}"
    assert (
        api.post("/v1/scores", {"match_id": match, "user_id": user, "points": 3, "occurred_at": month.at(5)})[0] == 202
    )
    for changed in (
        {"match_id": match, "user_id": user, "points": 30},
        {
            "scores": [
                {"match_id": f"other-{tag()}", "user_id": user},
                {"match_id": match, "user_id": user, "points": 4},
            ]
        },
    ):
        route = "/v1/scores/batch" if "scores" in changed else "/v1/scores"
        status, body = api.post(route, changed)
        assert status == 409, body
        assert body["error"]["code"] == "conflicting_duplicate"
        assert "3 points, not" in body["error"]["message"]
    wait_for(lambda: visible(api, month, user, 3), what="the first score")
    assert [v["points"] for v in topic_values(stack.kafka_bootstrap, stack.topic) if v["user_id"] == user] == [3]


def test_a_duplicate_answers_with_the_period_it_counts_in(api: Api, month: Month) -> None:
    user, match = f"late-retry-{tag()}", f"m-{tag()}"
    status, first = api.post("/v1/scores", {"match_id": match, "user_id": user, "occurred_at": month.at(3)})
    assert (status, first["period"]) == (202, month.period)
    status, retry = api.post("/v1/scores", {"match_id": match, "user_id": user})  # stamped now: another month
    assert (status, retry) == (202, first)


def test_a_batch_with_one_bad_event_is_refused_whole(api: Api, month: Month, stack: RunningStack) -> None:
    t = tag()
    scores: list[dict[str, Any]] = [
        {"match_id": f"{t}-{i}", "user_id": f"u{i}-{t}", "occurred_at": month.at(i)} for i in range(5)
    ]
    scores[3]["points"] = 0
    status, body = api.post("/v1/scores/batch", {"scores": scores})
    assert status == 400
    assert body["error"]["field"] == "scores.3.points"
    assert not [v for v in topic_values(stack.kafka_bootstrap, stack.topic) if v["match_id"].startswith(t)]

    scores[3]["points"] = 2
    status, body = api.post("/v1/scores/batch", {"scores": scores})
    assert (status, body["accepted"], body["duplicates"]) == (202, 5, 0)
    wait_for(lambda: len(board_points(stack.redis_url, month.period)) == 5, what="all five players")
    assert sum(board_points(stack.redis_url, month.period).values()) == 6


def test_neighbours_around_a_player(api: Api, month: Month) -> None:
    t = tag()
    scores = [
        {"match_id": f"m-{t}", "user_id": f"p{i:02d}-{t}", "points": 100 - i, "occurred_at": month.at(i)}
        for i in range(20)
    ]
    assert api.post("/v1/scores/batch", {"scores": scores})[0] == 202
    wait_for(lambda: api.get(f"{TOP}?period={month.period}")[1]["total"] == 20, what="twenty players")

    status, me = standing(api, month, f"p09-{t}", around=3)
    assert status == 200
    assert (me["rank"], me["points"], me["total"]) == (10, 91, 20)
    assert [e["rank"] for e in me["around"]] == list(range(7, 14))
    assert [e["user_id"] for e in me["around"]] == [f"p{i:02d}-{t}" for i in range(6, 13)]

    _, leader = standing(api, month, f"p00-{t}", around=2)
    assert [e["rank"] for e in leader["around"]] == [1, 2, 3]
    _, page = api.get(f"{TOP}?period={month.period}&limit=5&offset=15")
    assert [e["rank"] for e in page["entries"]] == [16, 17, 18, 19, 20]


def test_unknown_player_is_404(api: Api, month: Month) -> None:
    status, body = standing(api, month, f"nobody-{tag()}")
    assert status == 404
    assert body["error"]["code"] == "player_not_found"


def test_empty_board_has_no_entries(api: Api, month: Month) -> None:
    assert api.get(f"{TOP}?period={month.period}") == (200, {"period": month.period, "total": 0, "entries": []})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "u"}, "match_id"),
        ({"match_id": "m", "user_id": "x" * 129}, "user_id"),
        ({"match_id": "m", "user_id": "tab\there"}, "user_id"),
        ({"match_id": "m", "user_id": "u", "points": 10_001}, "points"),
        ({"match_id": "m", "user_id": "u", "points": "3"}, "points"),
        ({"match_id": "m", "user_id": "u", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"match_id": "m", "user_id": "u", "occurred_at": "last tuesday"}, "occurred_at"),
        (["not", "an", "object"], "body"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_produced(api: Api, stack: RunningStack, body: object, field: str) -> None:
    before = len(topic_values(stack.kafka_bootstrap, stack.topic, quiet_seconds=0.5))
    status, answer = api.post("/v1/scores", body)
    assert status == 400
    assert answer["error"]["field"] == field
    assert len(topic_values(stack.kafka_bootstrap, stack.topic, quiet_seconds=0.5)) == before


def test_malformed_json_and_huge_bodies(api: Api) -> None:
    status, answer = api.call("POST", "/v1/scores", raw=b'{"match_id": ')
    assert (status, answer["error"]["code"]) == (400, "malformed_json")
    status, answer = api.call("POST", "/v1/scores", raw=b"{" + b" " * (1024 * 1024) + b"}")
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "period=2026-13", "period=latest", "limit=abc"])
def test_bad_queries_are_400(api: Api, query: str) -> None:
    status, answer = api.get(f"{TOP}?{query}")
    assert status == 400
    assert answer["error"]["field"] == query.split("=")[0]


def test_writes_need_the_key(api: Api, month: Month, stack: RunningStack) -> None:
    event = {"match_id": f"m-{tag()}", "user_id": f"u-{tag()}", "occurred_at": month.at(5)}
    assert api.post("/v1/scores", event, key=None)[0] == 401
    status, answer = api.post("/v1/scores/batch", {"scores": [event]}, key="wrong")
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    assert not [v for v in topic_values(stack.kafka_bootstrap, stack.topic) if v["match_id"] == event["match_id"]]
    assert api.get(f"{TOP}?period={month.period}")[0] == 200, "reads need no key"


def test_unknown_route_is_404_json(api: Api) -> None:
    status, answer = api.get("/v1/nope")
    assert (status, answer["error"]["code"]) == (404, "not_found")


def test_any_printable_unicode_id_round_trips_through_the_path(api: Api, month: Month) -> None:
    user = f"café/ü {tag()} 🎮?#%"
    assert api.post("/v1/scores", {"match_id": f"m-{tag()}", "user_id": user, "occurred_at": month.at(3)})[0] == 202
    path = f"/v1/leaderboards/monthly/users/{urllib.parse.quote(user, safe='')}?period={month.period}"
    mine = wait_for(lambda: api.get(path)[1].get("user_id") == user and api.get(path)[1], what="the player")
    assert (mine["rank"], mine["points"]) == (1, 1)


def test_an_id_of_eleven_emoji_can_post_and_read_its_rank(api: Api, month: Month) -> None:
    """132 characters percent-encoded, 11 as an id: the length rule applies to the decoded id."""
    user = "🎮" * 10 + chr(0x1F600 + int(tag(), 16) % 80)  # each month board is the test's own
    encoded = urllib.parse.quote(user, safe="")
    assert len(encoded) > 128
    status, _ = api.post(
        "/v1/scores", {"match_id": f"m-{tag()}", "user_id": user, "points": 4, "occurred_at": month.at(9)}
    )
    assert status == 202
    path = f"/v1/leaderboards/monthly/users/{encoded}?period={month.period}"
    mine = wait_for(lambda: visible_at(api, path, 4), what="the emoji player's rank")
    assert (mine["user_id"], mine["rank"], mine["points"]) == (user, 1, 4)


def test_composed_and_decomposed_spellings_are_one_player(api: Api, month: Month) -> None:
    composed = f"Ångström-{tag()}"
    decomposed = unicodedata.normalize("NFD", composed)
    match = f"m-{tag()}"
    first = api.post("/v1/scores", {"match_id": match, "user_id": decomposed, "occurred_at": month.at(1)})
    again = api.post("/v1/scores", {"match_id": match, "user_id": composed, "occurred_at": month.at(1)})
    assert first[0] == again[0] == 202 and first[1]["event_id"] == again[1]["event_id"]
    other = api.post("/v1/scores", {"match_id": f"m-{tag()}", "user_id": composed, "occurred_at": month.at(2)})
    assert other[0] == 202
    path = f"/v1/leaderboards/monthly/users/{urllib.parse.quote(decomposed, safe='')}?period={month.period}"
    mine = wait_for(lambda: visible_at(api, path, 2), what="both matches on one player")
    assert (mine["user_id"], mine["total"]) == (composed, 1)


def visible_at(api: Api, path: str, points: int) -> dict[str, Any] | None:
    status, body = api.get(path)
    return body if status == 200 and body["points"] == points else None
