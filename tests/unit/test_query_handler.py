"""The query handler's success path on the sample events: its answers from boards held by the
reference store (shared.application.reference_board) instead of Redis, with the clock fixed."""

from __future__ import annotations

import pytest

from shared.application.apply import PendingScore
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Window
from shared.domain.events import event_id_for
from tests.support.handler_calls import Handler, call, load, sample, serve_from, with_query

NOW_MS = 1_793_880_000_000  # 2026-11-05T12:00:00Z, a Thursday of 2026-W45
NOVEMBER, OCTOBER = Window.MONTHLY.parse_period("2026-11"), Window.MONTHLY.parse_period("2026-10")
WEEK = Window.WEEKLY.current(NOW_MS)
TODAY, TWO_DAYS_AGO = Window.DAILY.current(NOW_MS), Window.DAILY.parse_period("2026-11-03")


@pytest.fixture(scope="module")
def query() -> Handler:
    return load("leaderboard_query")


@pytest.fixture
def boards(query: Handler) -> ReferenceBoards:
    store = ReferenceBoards()
    november = [("bob", 9, 20), ("alice", 7, 100), ("cat", 7, 50), ("dan", 3, 10)]
    store.apply(NOVEMBER, "p0", [score(offset, *player) for offset, player in enumerate(november)])
    store.apply(OCTOBER, "p0", [score(0, "ivy", 2, 0)])
    store.apply(WEEK, "p0", [score(0, "erin", 5, 30), score(1, "fay", 5, 10), score(2, "gus", 2, 0)])
    store.apply(TWO_DAYS_AGO, "p0", [score(0, "hal", 1, 0)])
    serve_from(query, store, NOW_MS)
    return store


def score(offset: int, user: str, points: int, tick: int) -> PendingScore:
    return PendingScore(offset, bytes.fromhex(event_id_for(f"m{offset}", user)), user, points, tick, -1)


def entries(*rows: tuple[int, str, int]) -> list[dict[str, object]]:
    return [{"rank": rank, "user_id": user, "points": points} for rank, user, points in rows]


@pytest.mark.usefixtures("boards")
def test_the_top_of_a_month_ranks_equal_points_by_who_reached_them_first(query: Handler) -> None:
    status, answer = call(query, with_query("get_top.json", period="2026-11"))
    assert (status, answer) == (
        200,
        {
            "period": "2026-11",
            "total": 4,
            "entries": entries((1, "bob", 9), (2, "cat", 7), (3, "alice", 7), (4, "dan", 3)),
        },
    )


@pytest.mark.usefixtures("boards")
def test_a_page_further_down_with_shared_ranks(query: Handler) -> None:
    status, answer = call(query, with_query("get_top.json", period="2026-11", offset="1", limit="2", ties="shared"))
    assert (status, answer["total"], answer["entries"]) == (200, 4, entries((2, "cat", 7), (2, "alice", 7)))


@pytest.mark.usefixtures("boards")
@pytest.mark.parametrize(("ties", "rank", "percentile"), [("first_reached", 3, 50.0), ("shared", 2, 75.0)])
def test_a_players_standing_with_neighbours_and_percentile(
    query: Handler, ties: str, rank: int, percentile: float
) -> None:
    status, answer = call(query, with_query("get_player.json", period="2026-11", around="1", ties=ties))
    assert status == 200
    assert answer == {
        "period": "2026-11",
        "user_id": "alice",
        "rank": rank,
        "points": 7,
        "total": 4,
        "percentile": percentile,
        "around": entries((2, "cat", 7), (rank, "alice", 7), (4, "dan", 3)),
    }


@pytest.mark.usefixtures("boards")
def test_the_current_week_by_default(query: Handler) -> None:
    status, answer = call(query, sample("get_top_weekly.json"))
    assert (status, answer) == (
        200,
        {"period": WEEK.period, "total": 3, "entries": entries((1, "fay", 5), (1, "erin", 5), (3, "gus", 2))},
    )


@pytest.mark.usefixtures("boards")
def test_the_periods_of_a_window_list_the_earlier_ones_that_hold_players(query: Handler) -> None:
    status, answer = call(query, sample("get_periods.json"))
    assert status == 200
    assert (answer["window"], answer["current"], answer["periods"]) == (
        "daily",
        TODAY.period,
        [TODAY.period, "2026-11-03"],
    )
    assert answer["next_reset"].startswith("2026-11-06T00:00:00")


@pytest.mark.usefixtures("boards")
def test_a_player_without_a_score_is_404(query: Handler) -> None:
    status, answer = call(query, with_query("get_player.json", period="2026-10"))
    assert (status, answer["error"]["code"]) == (404, "player_not_found")


@pytest.mark.usefixtures("boards")
def test_a_closed_period_nobody_scored_in_is_404_naming_the_period(query: Handler) -> None:
    status, answer = call(query, with_query("get_top.json", period="2026-09"))
    assert (status, answer["error"]["code"]) == (404, "period_not_found")
    assert "2026-09" in answer["error"]["message"]
