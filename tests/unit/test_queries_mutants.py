"""Sharper checks on shared.application.queries and the reference board the model test holds the
Lua scripts to: a standing's total, the shared-ranks error, and "no count ahead" as None."""

from __future__ import annotations

import pytest

from shared.application.queries import BoardSlice, Entry, Freshness, LeaderboardQueries, Ties, ranked
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Window
from tests.support.live_fakes import FakeClock, PointsReader

pytestmark = pytest.mark.unit


def test_a_standing_carries_the_boards_total() -> None:
    clock, reader = FakeClock(), PointsReader()
    board = Window.MONTHLY.current(clock.now_ms)
    for user, points in (("ann", 9), ("bob", 5), ("cat", 1)):
        reader.put(board, user, points)
    found = LeaderboardQueries(reader, tuple(Window), clock=clock).player(board, "bob", around=0)
    assert found is not None and (found.total, found.standing.rank) == (3, 2)


def test_shared_ranks_without_the_count_ahead_are_refused_saying_why() -> None:
    page = BoardSlice(total=1, first_index=0, entries=(Entry("ann", 1),), players_ahead=None)
    with pytest.raises(ValueError) as refused:
        ranked(page, Ties.SHARED)
    assert str(refused.value) == "shared ranks need the count of players ahead of the first entry"


def test_the_reference_board_counts_nobody_ahead_unless_asked_and_on_an_empty_page() -> None:
    boards = ReferenceBoards()
    board = Window.ALLTIME.parse_period("all")
    assert boards.page(board, 0, 10, count_ahead=True).players_ahead is None  # empty
    assert boards.page(board, 0, 10, count_ahead=False).players_ahead is None


def test_a_standing_on_a_closed_board_says_it_is_closed() -> None:
    clock, reader = FakeClock(), PointsReader()
    board = Window.DAILY.current(clock.now_ms).previous()
    assert board is not None
    reader.put(board, "ann", 1)
    clock.now_ms += 3 * 86_400_000  # well past the day's grace
    found = LeaderboardQueries(reader, tuple(Window), clock=clock).player(board, "ann", around=0)
    assert found is not None and found.freshness is Freshness.CLOSED
