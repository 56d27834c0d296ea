"""Every window end to end on real servers: one POST, four boards, through Kafka and the updater.

The instants are fixed and in the past (the stack accepts late events for 20 years), chosen so one
batch crosses a day boundary inside an ISO week that spans two months: 2024-W05 runs from Monday
2024-01-29 to Sunday 2024-02-04.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from shared.domain.boards import DAY_MS, Window
from shared.domain.timestamps import now_ms, rfc3339_to_epoch_ms
from tests.support.http_api import Api
from tests.support.local_stack import servers_environ, start_stack
from tests.support.past_months import reserve_months
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

LAST_MINUTE_OF_JANUARY = rfc3339_to_epoch_ms("2024-01-31T23:59:30Z")
FIRST_MINUTE_OF_FEBRUARY = rfc3339_to_epoch_ms("2024-02-01T00:00:30Z")
reserve_months("2024-01", "2024-02")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def standing(api: Api, window: str, period: str, user_id: str, ties: str = "first_reached") -> tuple[int, Any]:
    query = urllib.parse.urlencode({"period": period, "ties": ties})
    return api.get(f"/v1/leaderboards/{window}/users/{urllib.parse.quote(user_id, safe='')}?{query}")


def points_on(api: Api, window: str, period: str, user_id: str) -> int | None:
    status, body = standing(api, window, period, user_id)
    assert status in (200, 404), body
    return body["points"] if status == 200 else None


def wait_for_points(api: Api, window: str, period: str, user_id: str, points: int) -> None:
    wait_for(
        lambda: points_on(api, window, period, user_id) == points or None,
        what=f"{user_id} to hold {points} points on {window} {period}",
    )


def test_one_post_counts_once_on_all_four_boards(api: Api) -> None:
    user = unique("four-boards")
    status, body = api.post(
        "/v1/scores", {"match_id": unique("m"), "user_id": user, "points": 9, "occurred_at": FIRST_MINUTE_OF_FEBRUARY}
    )
    assert status == 202, body
    expected = {"daily": "2024-02-01", "weekly": "2024-W05", "monthly": "2024-02", "alltime": "all"}
    assert body["periods"] == expected
    assert body["period"] == "2024-02"
    for window, period in expected.items():
        wait_for_points(api, window, period, user, 9)
    status, again = api.post(
        "/v1/scores", {"match_id": "repeat", "user_id": user, "points": 4, "occurred_at": FIRST_MINUTE_OF_FEBRUARY}
    )
    assert status == 202 and again["periods"] == expected
    for window, period in expected.items():
        wait_for_points(api, window, period, user, 13)
    status, top = api.get("/v1/leaderboards/weekly/top?period=2024-W05&limit=100")
    assert status == 200 and [entry["points"] for entry in top["entries"] if entry["user_id"] == user] == [13]


def test_a_batch_across_midnight_splits_the_days_and_months_but_not_the_week(api: Api) -> None:
    user = unique("midnight")
    batch = {
        "scores": [
            {"match_id": unique("late"), "user_id": user, "points": 5, "occurred_at": LAST_MINUTE_OF_JANUARY},
            {"match_id": unique("early"), "user_id": user, "points": 7, "occurred_at": FIRST_MINUTE_OF_FEBRUARY},
        ]
    }
    status, body = api.post("/v1/scores/batch", batch)
    assert status == 202, body
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    expected = {
        ("daily", "2024-01-31"): 5,
        ("daily", "2024-02-01"): 7,
        ("weekly", "2024-W05"): 12,
        ("monthly", "2024-01"): 5,
        ("monthly", "2024-02"): 7,
        ("alltime", "all"): 12,
    }
    for (window, period), points in expected.items():
        wait_for_points(api, window, period, user, points)
    assert points_on(api, "weekly", "2024-W04", user) is None
    assert points_on(api, "daily", "2024-01-30", user) is None


def test_equal_points_share_a_rank_on_every_window(api: Api) -> None:
    first, second = unique("tie-a"), unique("tie-b")
    for user, at in ((first, LAST_MINUTE_OF_JANUARY - 60_000), (second, LAST_MINUTE_OF_JANUARY)):
        status, _ = api.post(
            "/v1/scores", {"match_id": unique("m"), "user_id": user, "points": 9_973, "occurred_at": at}
        )
        assert status == 202
    for window, period in (("daily", "2024-01-31"), ("weekly", "2024-W05"), ("monthly", "2024-01")):
        wait_for_points(api, window, period, second, 9_973)
        ordered = [standing(api, window, period, user)[1]["rank"] for user in (first, second)]
        shared = [standing(api, window, period, user, ties="shared")[1]["rank"] for user in (first, second)]
        assert ordered == [ordered[0], ordered[0] + 1], f"{window}: the earlier one ranks first"
        assert shared == [ordered[0], ordered[0]], f"{window}: equal points share the first one's rank"


@pytest.fixture(scope="module")
def stack_with_a_closed_day(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = servers_environ(servers, LATE_EVENT_GRACE_DAILY_SECONDS="0")
    running = start_stack(environ, tmp_path_factory.mktemp("closed-day"))
    try:
        yield running
    finally:
        running.stop()


def test_a_day_closes_on_its_own_while_the_other_windows_take_the_score(stack_with_a_closed_day: RunningStack) -> None:
    api = Api(stack_with_a_closed_day.api_url, stack_with_a_closed_day.api_key)
    user = unique("yesterday")
    last_moment_of_yesterday = now_ms() // DAY_MS * DAY_MS - 1
    status, body = api.post(
        "/v1/scores",
        {"match_id": unique("m"), "user_id": user, "points": 3, "occurred_at": last_moment_of_yesterday},
    )
    assert status == 202, body
    boards = {window: window.board_at(last_moment_of_yesterday).period for window in Window}
    assert body["periods"] == {
        "weekly": boards[Window.WEEKLY],
        "monthly": boards[Window.MONTHLY],
        "alltime": "all",
    }
    for window in ("weekly", "monthly", "alltime"):
        wait_for_points(api, window, boards[Window(window)], user, 3)
    assert points_on(api, "daily", boards[Window.DAILY], user) is None
