"""Past days and weeks for tests that archive boards: each test gets a period no other test writes to,
chosen relative to the clock, so the tests hold whatever today is."""

from __future__ import annotations

import random

from shared.domain.boards import DAY_MS, Board, Window
from shared.domain.timestamps import now_ms

# From a month back (so the default graces have long passed, and the closer's scheduled runs, which
# look about two weeks back, leave these periods to the tests) to 19 years back.
NEWEST_DAYS_BACK = 31
OLDEST_DAYS_BACK = 19 * 365

_used: set[Board] = set()


def reserve_boards(*boards: Board) -> None:
    """Keep boards that a test uses at fixed periods from being handed out."""
    _used.update(boards)


def unused_past_board(
    window: Window = Window.DAILY, *, newest_days_back: int = NEWEST_DAYS_BACK, oldest_days_back: int = OLDEST_DAYS_BACK
) -> Board:
    """A daily or weekly board that closed at least a month ago (by default) and that no other test was given."""
    for _ in range(1000):
        board = window.board_at(now_ms() - random.randint(newest_days_back, oldest_days_back) * DAY_MS)
        if board not in _used:
            _used.add(board)
            return board
    raise RuntimeError(f"no unused past {window} period left after 1000 draws")
