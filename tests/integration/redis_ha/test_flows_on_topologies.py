"""The end-to-end flows on each Redis topology: standalone, Sentinel and Cluster behind one REDIS_URL.

In a cluster the ingest ledger's keys spread over every node while a board and its watermarks
share one slot; the same HTTP calls must give the same answers either way.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from local_runtime.msk_trigger import LOCAL_CLUSTER_ARN
from local_runtime.stack import UPDATER_FUNCTION, RunningStack
from shared.adapters.redis_client import create_redis_client
from shared.domain.boards import DAY_MS, Board, Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record, record_key
from shared.domain.timestamps import now_ms
from tests.support.direct_reads import board_points
from tests.support.http_api import Api
from tests.support.past_months import Month
from tests.support.waiting import wait_for

TOP = "/v1/leaderboards/monthly/top"


def tag() -> str:
    return uuid.uuid4().hex[:8]


def api_of(stack: RunningStack) -> Api:
    return Api(stack.api_url, stack.api_key)


def points_of(api: Api, month: Month, user: str) -> int | None:
    status, body = api.get(f"/v1/leaderboards/monthly/users/{user}?period={month.period}")
    return body["points"] if status == 200 else None


def test_a_posted_score_shows_in_top_and_rank(topology_stack: RunningStack, month: Month) -> None:
    api, user = api_of(topology_stack), f"alice-{tag()}"
    event = {"match_id": f"m-{tag()}", "user_id": user, "points": 7, "occurred_at": month.at(60)}
    assert api.post("/v1/scores", event)[0] == 202

    wait_for(lambda: points_of(api, month, user) == 7, what="the score to reach the board")
    assert api.get(f"{TOP}?period={month.period}") == (
        200,
        {"period": month.period, "total": 1, "entries": [{"rank": 1, "user_id": user, "points": 7}]},
    )


def test_ties_and_neighbours(topology_stack: RunningStack, month: Month) -> None:
    api, t = api_of(topology_stack), tag()
    scores = [
        {"match_id": f"m-{t}", "user_id": f"p{i:02d}-{t}", "points": 50 - i // 2, "occurred_at": month.at(100 - i)}
        for i in range(12)
    ]
    assert api.post("/v1/scores/batch", {"scores": scores})[0] == 202
    wait_for(lambda: api.get(f"{TOP}?period={month.period}")[1]["total"] == 12, what="twelve players")

    _, top = api.get(f"{TOP}?period={month.period}&limit=4")
    # Pairs share their points; within a pair the later index reached the total earlier.
    assert [e["user_id"] for e in top["entries"]] == [f"p{i:02d}-{t}" for i in (1, 0, 3, 2)]
    status, me = api.get(f"/v1/leaderboards/monthly/users/p06-{t}?period={month.period}&around=2")
    assert status == 200
    assert (me["rank"], me["points"], me["total"]) == (8, 47, 12)
    assert [e["rank"] for e in me["around"]] == [6, 7, 8, 9, 10]


def test_the_same_events_posted_again_count_once(topology_stack: RunningStack, month: Month) -> None:
    api, t = api_of(topology_stack), tag()
    single = {"match_id": f"single-{t}", "user_id": f"solo-{t}", "points": 4, "occurred_at": month.at(5)}
    first, again = api.post("/v1/scores", single), api.post("/v1/scores", single)
    assert first[0] == again[0] == 202 and first[1] == again[1]

    # Forty ledger keys: in a cluster they land on every node, claimed in one pipelined call.
    scores = [
        {"match_id": f"b-{t}", "user_id": f"u{i:02d}-{t}", "points": i + 1, "occurred_at": month.at(i)}
        for i in range(40)
    ]
    for duplicates in (0, 40):
        status, answer = api.post("/v1/scores/batch", {"scores": scores})
        assert (status, answer["accepted"], answer["duplicates"]) == (202, 40, duplicates)

    expected = {s["user_id"]: s["points"] for s in scores} | {single["user_id"]: 4}
    wait_for(lambda: board_points(topology_stack.redis_url, month.period) == expected, what="each score once")


def kafka_record(topic: str, partition: int, offset: int, event: ScoreEvent) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "timestamp": event.occurred_at_ms,
        "timestampType": "CREATE_TIME",
        "key": base64.b64encode(record_key(event)).decode(),
        "value": base64.b64encode(encode_record(event)).decode(),
        "headers": [],
    }


def test_a_redelivered_updater_batch_changes_nothing(topology_stack: RunningStack, month: Month) -> None:
    api, topic, t = api_of(topology_stack), f"redelivery-{tag()}", tag()
    events = [
        ScoreEvent(event_id_for(f"m{i}-{t}", f"r{i % 3}-{t}"), f"m{i}-{t}", f"r{i % 3}-{t}", i + 1, month.at(i))
        for i in range(9)
    ]
    records = [kafka_record(topic, i % 2, 10 + i, event) for i, event in enumerate(events)]

    def batch(*chosen: dict[str, Any]) -> dict[str, Any]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for record in chosen:
            grouped.setdefault(f"{record['topic']}-{record['partition']}", []).append(record)
        return {"eventSource": "aws:kafka", "eventSourceArn": LOCAL_CLUSTER_ARN, "records": grouped}

    updater = topology_stack.functions[UPDATER_FUNCTION]
    assert updater.invoke(batch(*records[:6])) == {"batchItemFailures": []}
    assert updater.invoke(batch(*records[:6])) == {"batchItemFailures": []}, "the same batch again"
    assert updater.invoke(batch(*records[3:])) == {"batchItemFailures": []}, "a batch overlapping the first"

    expected: dict[str, int] = {}
    for event in events:
        expected[event.user_id] = expected.get(event.user_id, 0) + event.points
    assert board_points(topology_stack.redis_url, month.period) == expected
    assert {user: points_of(api, month, user) for user in expected} == expected


def test_window_reads_on_every_topology(topology_stack: RunningStack) -> None:
    """Each board is a hash tag of its own: in a cluster the periods list's EXISTS calls go to several
    slots in one pipeline, and the shared-rank count runs inside the board's read script."""
    api, t = api_of(topology_stack), tag()
    today = Window.DAILY.current(now_ms())
    earlier = [Window.DAILY.board_at(today.start_ms - back * DAY_MS) for back in range(1, 6)]
    writer = create_redis_client(topology_stack.redis_url)
    try:
        for day in earlier:
            writer.zadd(day.key, {f"{name}-{t}": day.encode(3, day.start_ms) for name in ("a", "b")})
        week = Board(Window.WEEKLY, "2021-W20")  # no other test writes to 2021
        writer.zadd(week.key, {f"{name}-{t}": week.encode(points, week.start_ms) for name, points in PODIUM})
    finally:
        writer.close()

    status, periods = api.get("/v1/leaderboards/daily/periods")
    assert status == 200
    assert periods["periods"] == [periods["current"], *(day.period for day in earlier)]
    _, top = api.get(f"/v1/leaderboards/weekly/top?period={week.period}&ties=shared&offset=1&limit=3")
    assert [(entry["rank"], entry["points"]) for entry in top["entries"]] == [(1, 9), (3, 4), (3, 4)]


PODIUM = [("gold", 9), ("also-gold", 9), ("bronze", 4), ("also-bronze", 4), ("last", 1)]
