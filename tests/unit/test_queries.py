"""LeaderboardQueries over an in-memory reader: shared ranks, percentiles, windows, periods and their list.

The reader keeps each board in Redis's order (score descending, then member bytes descending) and
answers the port's questions by brute force; the clock is fixed, so nothing here reads the date.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.application.queries import (
    BoardSlice,
    Entry,
    LeaderboardQueries,
    PlayerSlice,
    Standing,
    Ties,
    percentile,
    ranked,
)
from shared.domain.boards import PERIODS_LISTED, Board, InvalidPeriod, UnknownWindow, Window

ALL_WINDOWS = tuple(Window)
# 2026-12-02T10:00:00Z, a Wednesday: day 2026-12-02, week 2026-W49, month 2026-12.
NOW_MS = 1_796_205_600_000


class InMemoryReader:
    def __init__(self) -> None:
        self.boards: dict[Board, dict[str, int]] = {}  # board -> user -> score
        self.existence_checks: list[list[Board]] = []

    def put(self, board: Board, user_id: str, points: int, reached_at_ms: int) -> None:
        self.boards.setdefault(board, {})[user_id] = board.encode(points, reached_at_ms)

    def _ordered(self, board: Board) -> list[Entry]:
        scores = self.boards.get(board, {})
        order = sorted(scores, key=lambda user: (scores[user], user.encode()), reverse=True)
        return [Entry(user, board.codec.points_of(scores[user])) for user in order]

    def _slice(self, board: Board, first: int, last: int, count_ahead: bool) -> BoardSlice:
        everyone = self._ordered(board)
        entries = tuple(everyone[first : last + 1])
        ahead = sum(1 for other in everyone if other.points > entries[0].points) if entries and count_ahead else None
        return BoardSlice(total=len(everyone), first_index=first, entries=entries, players_ahead=ahead)

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        return self._slice(board, offset, offset + limit - 1, count_ahead)

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        order = [entry.user_id for entry in self._ordered(board)]
        if user_id not in order:
            return None
        index = order.index(user_id)
        first = max(0, index - neighbours)
        return PlayerSlice(index=index, neighbourhood=self._slice(board, first, index + neighbours, count_ahead))

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        self.existence_checks.append(list(boards))
        return {board for board in boards if self.boards.get(board)}


def service(reader: InMemoryReader, windows: tuple[Window, ...] = ALL_WINDOWS) -> LeaderboardQueries:
    return LeaderboardQueries(reader, windows, clock=lambda: NOW_MS)


def competition_rank(points: int, everyone: list[int]) -> int:
    return 1 + sum(1 for other in everyone if other > points)


# Few distinct totals over many players: long runs of equal points.
players = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 3_600)), min_size=1, max_size=60)


@given(players, st.integers(0, 70), st.integers(1, 12))
def test_shared_ranks_are_competition_ranks_on_every_page(
    scores: list[tuple[int, int]], offset: int, limit: int
) -> None:
    reader, board = InMemoryReader(), Window.DAILY.current(NOW_MS)
    for number, (points, seconds) in enumerate(scores):
        reader.put(board, f"p{number:03d}", points, board.start_ms + seconds * 1000)
    queries = service(reader)
    everyone = [entry.points for entry in reader._ordered(board)]

    shared = queries.top(board, offset=offset, limit=limit, ties=Ties.SHARED)
    first_reached = queries.top(board, offset=offset, limit=limit)

    assert [(s.user_id, s.points) for s in shared.entries] == [(s.user_id, s.points) for s in first_reached.entries]
    assert [s.rank for s in first_reached.entries] == list(range(offset + 1, offset + 1 + len(first_reached.entries)))
    assert [s.rank for s in shared.entries] == [competition_rank(s.points, everyone) for s in shared.entries]
    assert shared.total == first_reached.total == len(scores)


@given(players, st.data())
def test_a_players_shared_rank_and_neighbours(scores: list[tuple[int, int]], data: st.DataObject) -> None:
    reader, board = InMemoryReader(), Window.WEEKLY.current(NOW_MS)
    for number, (points, seconds) in enumerate(scores):
        reader.put(board, f"p{number:03d}", points, board.start_ms + seconds * 1000)
    everyone = [entry.points for entry in reader._ordered(board)]
    user = f"p{data.draw(st.integers(0, len(scores) - 1)):03d}"
    around = data.draw(st.integers(0, 5))

    found = service(reader).player(board, user, around=around, ties=Ties.SHARED)

    assert found is not None
    assert found.standing.user_id == user
    assert found.standing.rank == competition_rank(found.standing.points, everyone)
    assert [s.rank for s in found.around] == [competition_rank(s.points, everyone) for s in found.around]
    assert found.standing in found.around
    assert found.percentile == percentile(found.standing.rank, len(scores))


def test_tied_players_share_the_first_ones_rank_and_the_next_skips() -> None:
    reader, board = InMemoryReader(), Window.MONTHLY.current(NOW_MS)
    for user, points, minute in [("ann", 9, 5), ("bob", 7, 1), ("cat", 7, 2), ("dan", 7, 3), ("eve", 2, 0)]:
        reader.put(board, user, points, board.start_ms + minute * 60_000)
    queries = service(reader)

    top = queries.top(board, offset=0, limit=10, ties=Ties.SHARED)
    assert [(s.rank, s.user_id) for s in top.entries] == [(1, "ann"), (2, "bob"), (2, "cat"), (2, "dan"), (5, "eve")]
    # A page that starts inside the tie still gives the tie's rank.
    assert [s.rank for s in queries.top(board, offset=2, limit=2, ties=Ties.SHARED).entries] == [2, 2]

    dan = queries.player(board, "dan", around=1, ties=Ties.SHARED)
    assert dan is not None
    assert (dan.standing.rank, dan.percentile) == (2, 80.0)
    assert [(s.rank, s.user_id) for s in dan.around] == [(2, "cat"), (2, "dan"), (5, "eve")]
    first_reached = queries.player(board, "dan", around=1)
    assert first_reached is not None
    assert (first_reached.standing.rank, first_reached.percentile) == (4, 40.0)


@pytest.mark.parametrize(
    ("rank", "total", "expected"), [(1, 1, 100.0), (1, 3, 100.0), (2, 3, 66.67), (3, 3, 33.33), (7, 7, 14.29)]
)
def test_percentile_is_the_share_ranked_at_or_below(rank: int, total: int, expected: float) -> None:
    assert percentile(rank, total) == expected


def test_a_player_without_a_score_is_none() -> None:
    reader = InMemoryReader()
    board = Window.ALLTIME.current(NOW_MS)
    reader.put(board, "someone", 1, NOW_MS)
    assert service(reader).player(board, "nobody", around=3, ties=Ties.SHARED) is None


def test_shared_ranks_need_the_count_of_players_ahead() -> None:
    page = BoardSlice(total=1, first_index=0, entries=(Entry("a", 1),))
    with pytest.raises(ValueError, match="players ahead"):
        ranked(page, Ties.SHARED)
    assert ranked(page, Ties.FIRST_REACHED) == [Standing(1, "a", 1)]


@pytest.mark.parametrize("name", ["yearly", "Daily", "", "monthly "])
def test_unknown_windows_are_refused(name: str) -> None:
    queries = service(InMemoryReader())
    with pytest.raises(UnknownWindow):
        queries.board(name)
    with pytest.raises(UnknownWindow):
        queries.periods(name)


def test_a_window_that_is_not_enabled_is_unknown() -> None:
    queries = service(InMemoryReader(), windows=(Window.DAILY, Window.MONTHLY))
    assert queries.board("daily").window is Window.DAILY
    for disabled in ("weekly", "alltime"):
        with pytest.raises(UnknownWindow, match="enabled: daily, monthly"):
            queries.board(disabled, None)
        with pytest.raises(UnknownWindow):
            queries.periods(disabled)


@pytest.mark.parametrize(
    ("window", "period"),
    [
        ("daily", "2026-12"),
        ("daily", "2026-02-30"),
        ("daily", "2026-12-2"),
        ("weekly", "2026-12"),
        ("weekly", "2026-W54"),
        ("weekly", "2027-W53"),
        ("weekly", "2026-w49"),
        ("monthly", "2026-13"),
        ("monthly", "2026-12-02"),
        ("monthly", "0000-01"),
        ("alltime", "2026"),
        ("alltime", "ALL"),
    ],
)
def test_a_period_in_the_wrong_format_names_the_expected_one(window: str, period: str) -> None:
    with pytest.raises(InvalidPeriod) as refused:
        service(InMemoryReader()).board(window, period)
    assert Window(window).period_format in str(refused.value)


def test_the_default_period_is_the_current_one() -> None:
    queries = service(InMemoryReader())
    assert [queries.board(window).period for window in ("daily", "weekly", "monthly", "alltime")] == [
        "2026-12-02",
        "2026-W49",
        "2026-12",
        "all",
    ]
    assert queries.board("weekly", "2020-W53") == Board(Window.WEEKLY, "2020-W53")


def test_periods_list_the_current_one_and_recent_ones_that_hold_players() -> None:
    reader = InMemoryReader()
    current = Window.DAILY.current(NOW_MS)
    day = {back: Window.DAILY.board_at(current.start_ms - back * 86_400_000) for back in (1, 3, 13, 14, 30)}
    for board in day.values():
        reader.put(board, "someone", 1, board.start_ms)
    reader.boards[day[3]] = {}  # a key that held nobody does not count

    listed = service(reader).periods("daily")

    assert listed.window is Window.DAILY
    assert listed.current == current
    assert listed.next_reset_ms == current.end_ms == NOW_MS + 14 * 3_600_000
    # 14 days back, today included: 13 days ago is the oldest listed.
    assert listed.periods == ["2026-12-02", "2026-12-01", "2026-11-19"]
    assert reader.existence_checks == [[day_board for day_board in _previous(current, PERIODS_LISTED[Window.DAILY])]]


def test_the_current_period_is_listed_even_before_its_first_score() -> None:
    reader = InMemoryReader()
    august = Board(Window.MONTHLY, "2026-08")
    reader.put(august, "someone", 1, august.start_ms)
    assert service(reader).periods("monthly").periods == ["2026-12", "2026-08"]
    assert service(reader).periods("weekly").periods == ["2026-W49"]


def test_the_alltime_window_lists_one_period_and_never_resets() -> None:
    reader = InMemoryReader()
    listed = service(reader).periods("alltime")
    assert (listed.current.period, listed.next_reset_ms, listed.periods) == ("all", None, ["all"])
    assert reader.existence_checks == [], "nothing to ask the store"


def _previous(board: Board, count: int) -> list[Board]:
    earlier: list[Board] = []
    previous = board.previous()
    while previous is not None and len(earlier) < count - 1:
        earlier.append(previous)
        previous = previous.previous()
    return earlier
