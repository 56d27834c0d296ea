"""The query function on a redis-server of its own: every window's routes, shared ranks against brute
force, the all-time encoding, the 404/400 answers, the periods list, and the monthly routes as before.

Boards are written straight into Redis with each board's own encoding, so a test controls every
score and tick; the database is emptied before each test. Reads of the current period compare with
the period the clock gives before and after the call, so a test that crosses midnight still holds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import redis

from local_runtime.servers import RedisServer
from shared.domain.boards import ALLTIME_LAST_MS, PERIODS_LISTED, Board, Window
from shared.domain.timestamps import epoch_ms_to_rfc3339, now_ms
from tests.support.query_handler_api import QueryHandlerApi

Scores = dict[str, tuple[int, int]]  # user -> (points, reached at ms)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path_factory.mktemp("query-redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def api(redis_server: RedisServer) -> QueryHandlerApi:
    return QueryHandlerApi.load(redis_server.url)


def put(store: redis.Redis, board: Board, scores: Scores) -> None:
    store.zadd(board.key, {user: board.encode(points, reached) for user, (points, reached) in scores.items()})


def brute_force(board: Board, scores: Scores) -> list[tuple[str, int, int]]:
    """(user, points, competition rank) in the board's order: score descending, then user id bytes descending."""
    order = sorted(scores, key=lambda user: (board.encode(*scores[user]), user.encode()), reverse=True)
    everyone = [scores[user][0] for user in order]
    return [(user, scores[user][0], 1 + sum(1 for other in everyone if other > scores[user][0])) for user in order]


def entries(answer: dict[str, Any], key: str = "entries") -> list[tuple[int, str, int]]:
    return [(entry["rank"], entry["user_id"], entry["points"]) for entry in answer[key]]


@pytest.mark.parametrize("window", list(Window))
def test_every_window_answers_top_player_and_periods(window: Window, api: QueryHandlerApi, store: redis.Redis) -> None:
    before = now_ms()
    board = window.current(before)
    start = board.start_ms
    put(store, board, {"lead": (9, start + 3_000), "early": (4, start), "late": (4, start + 120_000)})
    base = f"/v1/leaderboards/{window}"

    status, top = api.get(f"{base}/top", period=board.period)
    assert (status, top["period"], top["total"]) == (200, board.period, 3)
    assert entries(top) == [(1, "lead", 9), (2, "early", 4), (3, "late", 4)]
    _, shared = api.get(f"{base}/top", period=board.period, ties="shared")
    assert entries(shared) == [(1, "lead", 9), (2, "early", 4), (2, "late", 4)]
    assert set(top) == set(shared) == {"period", "total", "entries"}

    status, late = api.get(f"{base}/users/late", period=board.period, around=1, ties="shared")
    assert status == 200
    assert (late["user_id"], late["rank"], late["points"], late["total"], late["percentile"]) == (
        "late",
        2,
        4,
        3,
        66.67,
    )
    assert entries(late, "around") == [(2, "early", 4), (2, "late", 4)]
    _, late_first_reached = api.get(f"{base}/users/late", period=board.period, around=1)
    assert (late_first_reached["rank"], late_first_reached["percentile"]) == (3, 33.33)

    _, default_top = api.get(f"{base}/top")
    status, periods = api.get(f"{base}/periods")
    after = now_ms()
    current_periods = {board.period, window.current(after).period}
    assert default_top["period"] in current_periods
    if default_top["period"] == board.period:
        assert default_top == top
    assert status == 200
    assert periods["window"] == window and periods["current"] in current_periods
    assert periods["periods"][0] == periods["current"]
    reset = Board(window, periods["current"]).end_ms
    assert periods["next_reset"] == (None if reset is None else epoch_ms_to_rfc3339(reset))
    if window is Window.ALLTIME:
        assert periods == {"window": "alltime", "current": "all", "next_reset": None, "periods": ["all"]}


def random_board(board: Board, rng: random.Random, players: int) -> Scores:
    """Many players on few totals (the codec's largest included), some reaching theirs in the same tick."""
    codec = board.codec
    totals = [0, 1, 2, 3, 5, 8, 13, codec.max_points - 1, codec.max_points]
    last = ALLTIME_LAST_MS if board.end_ms is None else board.end_ms - 1
    ticks = [rng.randint(board.start_ms, last) for _ in range(players // 3)]
    return {
        f"p{number:04d}-{rng.randrange(10**6)}": (rng.choice(totals), rng.choice(ticks)) for number in range(players)
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "board", [Board(Window.WEEKLY, "2021-W09"), Board(Window.DAILY, "2020-02-29"), Board(Window.ALLTIME, "all")]
)
def test_shared_ranks_match_brute_force(seed: int, board: Board, api: QueryHandlerApi, store: redis.Redis) -> None:
    rng = random.Random(seed)
    scores = random_board(board, rng, players=240)
    put(store, board, scores)
    truth = brute_force(board, scores)
    base = f"/v1/leaderboards/{board.window}"

    pages_starting_inside_a_tie = 0
    for limit in (1, 7, 10, 100):
        offsets = list(range(0, len(truth) + limit, limit)) + [rng.randrange(len(truth)) for _ in range(5)]
        for offset in offsets:
            status, page = api.get(f"{base}/top", period=board.period, limit=limit, offset=offset, ties="shared")
            assert status == 200 and page["total"] == len(truth)
            expected = truth[offset : offset + limit]
            assert entries(page) == [(rank, user, points) for user, points, rank in expected]
            _, first_reached = api.get(f"{base}/top", period=board.period, limit=limit, offset=offset)
            assert entries(first_reached) == [
                (offset + 1 + index, user, points) for index, (user, points, _) in enumerate(expected)
            ]
            if expected and offset > 0 and truth[offset - 1][1] == expected[0][1]:
                pages_starting_inside_a_tie += 1
    assert pages_starting_inside_a_tie > 10, "the board must put page boundaries inside ties"

    sample = [*rng.sample(range(len(truth)), 40), 0, len(truth) - 1]
    for index in sample:
        user = truth[index][0]
        around = rng.randint(0, 6)
        status, me = api.get(f"{base}/users/{quote(user)}", period=board.period, around=around, ties="shared")
        assert status == 200
        first = max(0, index - around)
        neighbours = truth[first : index + around + 1]
        assert entries(me, "around") == [(rank, other, points) for other, points, rank in neighbours]
        assert (me["rank"], me["points"]) == (truth[index][2], truth[index][1])
        assert me["percentile"] == round(100 * (len(truth) - truth[index][2] + 1) / len(truth), 2)


def test_the_alltime_board_decodes_with_its_own_encoding(api: QueryHandlerApi, store: redis.Redis) -> None:
    board = Board(Window.ALLTIME, "all")
    most = board.codec.max_points  # 268,435,455: more than a 2^22-slot reading could give back
    put(
        store,
        board,
        {
            "at-the-cap-first": (most, board.start_ms),
            "at-the-cap-last": (most, ALLTIME_LAST_MS),  # the lowest score with `most` points: most * 2^25
            "one-below-the-cap": (most - 1, board.start_ms),
            "same-minute-a": (7, board.start_ms + 61_000),
            "same-minute-b": (7, board.start_ms + 119_999),
            "next-minute": (7, board.start_ms + 120_000),
        },
    )
    status, top = api.get("/v1/leaderboards/alltime/top", ties="shared")
    assert status == 200 and top["period"] == "all"
    # Within a minute the encoding cannot tell who came first: user ids decide, descending.
    assert entries(top) == [
        (1, "at-the-cap-first", most),
        (1, "at-the-cap-last", most),
        (3, "one-below-the-cap", most - 1),
        (4, "same-minute-b", 7),
        (4, "same-minute-a", 7),
        (4, "next-minute", 7),
    ]
    status, me = api.get("/v1/leaderboards/alltime/users/at-the-cap-last", period="all")
    assert (status, me["rank"], me["points"]) == (200, 2, most)
    # Counted from just below the cap, where every digit of the score matters.
    _, below = api.get("/v1/leaderboards/alltime/users/one-below-the-cap", ties="shared")
    assert (below["rank"], below["points"]) == (3, most - 1)
    _, page = api.get("/v1/leaderboards/alltime/top", offset=2, limit=2, ties="shared")
    assert entries(page) == [(3, "one-below-the-cap", most - 1), (4, "same-minute-b", 7)]


def test_calendar_boards_hold_their_largest_total(api: QueryHandlerApi, store: redis.Redis) -> None:
    board = Board(Window.DAILY, "2024-02-29")
    most = board.codec.max_points
    assert board.end_ms is not None
    put(store, board, {"top": (most, board.start_ms), "also-top": (most, board.end_ms - 1)})
    _, top = api.get("/v1/leaderboards/daily/top", period=board.period, ties="shared")
    assert entries(top) == [(1, "top", most), (1, "also-top", most)]


@pytest.mark.parametrize("path", ["top", "users/someone", "periods"])
def test_an_unknown_window_is_404(path: str, api: QueryHandlerApi) -> None:
    status, answer = api.get(f"/v1/leaderboards/yearly/{path}")
    assert status == 404
    assert answer["error"]["code"] == "unknown_window" and answer["error"]["field"] == "window"
    assert "yearly" in answer["error"]["message"]


def test_a_window_the_deployment_does_not_enable_is_404(redis_server: RedisServer, store: redis.Redis) -> None:
    daily_only = QueryHandlerApi.load(redis_server.url, LEADERBOARD_WINDOWS="daily,alltime")
    put(store, Board(Window.MONTHLY, "2019-07"), {"someone": (1, Board(Window.MONTHLY, "2019-07").start_ms)})
    for path in ("weekly/top", "weekly/users/someone", "weekly/periods", "monthly/top", "monthly/users/someone"):
        status, answer = daily_only.get(f"/v1/leaderboards/{path}", period="2019-07")
        assert (status, answer["error"]["code"]) == (404, "unknown_window"), path
        assert "enabled: daily, alltime" in answer["error"]["message"]
    assert daily_only.get("/v1/leaderboards/daily/top")[0] == 200


@pytest.mark.parametrize(
    ("window", "period"),
    [
        ("daily", "2026-12"),
        ("daily", "2026-02-29"),
        ("weekly", "2026-12-01"),
        ("weekly", "2021-W53"),
        ("alltime", "2026"),
        ("alltime", "current"),
    ],
)
@pytest.mark.parametrize("path", ["top", "users/someone"])
def test_a_period_in_another_format_is_400_naming_the_expected_one(
    window: str, period: str, path: str, api: QueryHandlerApi
) -> None:
    status, answer = api.get(f"/v1/leaderboards/{window}/{path}", period=period)
    assert status == 400
    assert (answer["error"]["code"], answer["error"]["field"]) == ("invalid_request", "period")
    assert Window(window).period_format in answer["error"]["message"] and period in answer["error"]["message"]


@pytest.mark.parametrize("path", ["daily/top", "weekly/users/someone", "monthly/top", "monthly/users/someone"])
def test_an_unknown_tie_rule_is_400(path: str, api: QueryHandlerApi) -> None:
    status, answer = api.get(f"/v1/leaderboards/{path}", ties="random")
    assert (status, answer["error"]["field"]) == (400, "ties")


def test_periods_list_the_current_one_and_recent_ones_that_hold_players(
    api: QueryHandlerApi, store: redis.Redis
) -> None:
    before = now_ms()
    seeded: dict[Window, list[Board]] = {}
    for window, steps_back in [
        (Window.DAILY, (1, 3, 13, 14, 40)),
        (Window.WEEKLY, (2, 7, 8, 20)),
        (Window.MONTHLY, (1, 11, 12, 30)),
    ]:
        boards = _earlier(window.current(before), max(steps_back))
        seeded[window] = [boards[step - 1] for step in steps_back]
        for board in seeded[window]:
            put(store, board, {"someone": (1, board.start_ms)})

    for window, boards in seeded.items():
        status, answer = api.get(f"/v1/leaderboards/{window}/periods")
        assert status == 200
        current = Board(window, answer["current"])
        assert current.period in {window.current(before).period, window.current(now_ms()).period}
        listed = {board.period for board in _earlier(current, PERIODS_LISTED[window] - 1)}
        expected = [current.period, *(board.period for board in boards if board.period in listed)]
        assert answer["periods"] == expected
        if current == window.current(before):
            assert len(expected) == 1 + len(boards) - 2, "two of the seeded boards are beyond the list's reach"


def test_the_monthly_routes_answer_as_before(api: QueryHandlerApi, store: redis.Redis) -> None:
    board = Board(Window.MONTHLY, "2019-07")
    at = board.start_ms
    put(store, board, {"ann": (12, at + 5_000), "bob": (12, at + 1_000), "cid": (3, at), "dee": (1, at + 9_000)})

    assert api.get("/v1/leaderboards/monthly/top", period="2019-07", limit=3) == (
        200,
        {
            "period": "2019-07",
            "total": 4,
            "entries": [
                {"rank": 1, "user_id": "bob", "points": 12},
                {"rank": 2, "user_id": "ann", "points": 12},
                {"rank": 3, "user_id": "cid", "points": 3},
            ],
        },
    )
    assert api.get("/v1/leaderboards/monthly/users/ann", period="2019-07", around=1) == (
        200,
        {
            "period": "2019-07",
            "user_id": "ann",
            "rank": 2,
            "points": 12,
            "total": 4,
            "percentile": 75.0,
            "around": [
                {"rank": 1, "user_id": "bob", "points": 12},
                {"rank": 2, "user_id": "ann", "points": 12},
                {"rank": 3, "user_id": "cid", "points": 3},
            ],
        },
    )
    assert api.get("/v1/leaderboards/monthly/users/nobody", period="2019-07") == (
        404,
        {
            "error": {
                "code": "player_not_found",
                "message": "user 'nobody' has no score in 2019-07",
                "period": "2019-07",
            }
        },
    )
    status, refused = api.get("/v1/leaderboards/monthly/top", period="2019-7")
    assert (status, refused["error"]["field"]) == (400, "period")
    assert refused["error"]["message"] == "period: String should match pattern '^[0-9]{4}-(0[1-9]|1[0-2])$'"
    # ties is new to these routes as well.
    _, shared = api.get("/v1/leaderboards/monthly/top", period="2019-07", ties="shared")
    assert [entry["rank"] for entry in shared["entries"]] == [1, 1, 3, 4]


def _earlier(board: Board, count: int) -> list[Board]:
    """The `count` periods before `board`, newest first."""
    boards: list[Board] = []
    previous = board.previous()
    while previous is not None and len(boards) < count:
        boards.append(previous)
        previous = previous.previous()
    return boards
