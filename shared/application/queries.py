"""Reading boards: a page of the top, one player's standing, and the periods a window can be read for.

The rank rules live here. Ranks follow the board's order: more points first and, for equal
points, who reached the total first. With `Ties.SHARED` equal points share the rank of the
first of them (competition ranks 1, 1, 3); the order stays the same, only `rank` differs. The
store counts the players with strictly more points than the first entry it returns; every later
entry's shared rank follows from the order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from shared.domain.boards import PERIODS_LISTED, Board, BoardSchedule, Window, enabled_window


class Ties(StrEnum):
    FIRST_REACHED = "first_reached"
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class Entry:
    user_id: str
    points: int


@dataclass(frozen=True, slots=True)
class BoardSlice:
    """Consecutive entries of a board, best first, read in one go."""

    total: int
    """Players on the board."""
    first_index: int
    """The 0-based position of `entries[0]` on the board."""
    entries: tuple[Entry, ...]
    players_ahead: int | None = None
    """Players with strictly more points than `entries[0]`; None when not asked for (or no entries)."""
    final: bool = False
    """Read from the board's archive: it will never change."""


@dataclass(frozen=True, slots=True)
class PlayerSlice:
    index: int
    """The player's 0-based position; `neighbourhood` holds the player."""
    neighbourhood: BoardSlice


class Freshness(StrEnum):
    """How long an answer about a board stays true, for caches."""

    LIVE = "live"
    """The period still takes scores."""
    CLOSED = "closed"
    """Closed to late events; the updater may still be applying what came before the close."""
    FINAL = "final"
    """Read from the archive: never changes."""


class PeriodNotFound(LookupError):
    """A closed period with no board, in Redis or in the archive: nobody scored in it."""

    def __init__(self, board: Board) -> None:
        self.board = board
        super().__init__(f"no {board.window} board for period {board.period}: nobody scored in it")


class ArchiveCatalog(Protocol):
    def archived(self, window: Window) -> list[str]:
        """The window's archived periods."""
        ...


class BoardReader(Protocol):
    """Reads one board (shared.adapters.board_reader.RedisBoardReader in production); each call is one
    consistent read. StoreUnavailable when the store cannot answer."""

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice: ...

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        """The player and up to `neighbours` players on each side; None when the player has no score."""
        ...

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        """Those of `boards` the store holds a player on."""
        ...


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    user_id: str
    points: int


@dataclass(frozen=True, slots=True)
class TopPage:
    total: int
    entries: list[Standing]
    freshness: Freshness = Freshness.LIVE


@dataclass(frozen=True, slots=True)
class PlayerStanding:
    standing: Standing
    total: int
    percentile: float
    around: list[Standing]
    freshness: Freshness = Freshness.LIVE


@dataclass(frozen=True, slots=True)
class WindowPeriods:
    window: Window
    current: Board
    next_reset_ms: int | None
    periods: list[str]
    """The current period, then the earlier ones within PERIODS_LISTED that hold players and every archived
    one, newest first."""


def entry_documents(standings: Sequence[Standing]) -> list[dict[str, Any]]:
    """Standings as the API and the live push show them."""
    return [{"rank": s.rank, "user_id": s.user_id, "points": s.points} for s in standings]


def percentile(rank: int, total: int) -> float:
    """Share of the board's players ranked at or below this one: 100.0 for the leader."""
    return round(100 * (total - rank + 1) / total, 2)


def ranked(board_slice: BoardSlice, ties: Ties) -> list[Standing]:
    standings: list[Standing] = []
    for position, entry in enumerate(board_slice.entries, start=board_slice.first_index + 1):
        rank = position
        if ties is Ties.SHARED:
            if not standings:
                if board_slice.players_ahead is None:
                    raise ValueError("shared ranks need the count of players ahead of the first entry")
                rank = board_slice.players_ahead + 1
            elif entry.points == standings[-1].points:
                rank = standings[-1].rank
        standings.append(Standing(rank=rank, user_id=entry.user_id, points=entry.points))
    return standings


class LeaderboardQueries:
    """The read side of the API: boards of the enabled windows only (UnknownWindow otherwise), periods
    in their window's format (InvalidPeriod otherwise), the current period by default."""

    def __init__(
        self,
        reader: BoardReader,
        windows: tuple[Window, ...],
        clock: Callable[[], int],
        *,
        schedule: BoardSchedule | None = None,
        catalog: ArchiveCatalog | None = None,
    ) -> None:
        self._reader = reader
        self._windows = windows
        self._clock = clock
        self._schedule = schedule or BoardSchedule(windows)
        self._catalog = catalog

    def board(self, window_name: str, period: str | None = None) -> Board:
        window = enabled_window(window_name, self._windows)
        return window.current(self._clock()) if period is None else window.parse_period(period)

    def top(self, board: Board, *, offset: int, limit: int, ties: Ties = Ties.FIRST_REACHED) -> TopPage:
        page = self._reader.page(board, offset, limit, count_ahead=ties is Ties.SHARED)
        if page.total == 0 and self._is_closed(board):
            raise PeriodNotFound(board)
        return TopPage(total=page.total, entries=ranked(page, ties), freshness=self._freshness(board, page))

    def player(
        self, board: Board, user_id: str, *, around: int, ties: Ties = Ties.FIRST_REACHED
    ) -> PlayerStanding | None:
        """The player's standing with up to `around` neighbours on each side; None: no score on the board."""
        found = self._reader.around(board, user_id, around, count_ahead=ties is Ties.SHARED)
        if found is None:
            if self._is_closed(board) and not self._reader.existing([board]):
                raise PeriodNotFound(board)
            return None
        standings = ranked(found.neighbourhood, ties)
        me = standings[found.index - found.neighbourhood.first_index]
        total = found.neighbourhood.total
        return PlayerStanding(
            standing=me,
            total=total,
            percentile=percentile(me.rank, total),
            around=standings,
            freshness=self._freshness(board, found.neighbourhood),
        )

    def now_ms(self) -> int:
        """The instant the service's answers are computed at (its clock)."""
        return self._clock()

    def periods(self, window_name: str) -> WindowPeriods:
        window = enabled_window(window_name, self._windows)
        now = self._clock()
        current = window.current(now)
        earlier = [Board(window, period) for period in window.recent_periods(now, PERIODS_LISTED[window])[1:]]
        held = self._reader.existing(earlier) if earlier else set()
        listed = {board for board in earlier if board in held}
        if self._catalog is not None:
            listed.update(Board(window, period) for period in self._catalog.archived(window))
        listed.discard(current)
        newest_first = sorted(listed, key=lambda board: board.start_ms, reverse=True)
        return WindowPeriods(
            window=window,
            current=current,
            next_reset_ms=window.next_reset_ms(now),
            periods=[current.period, *(board.period for board in newest_first if board.start_ms < current.start_ms)],
        )

    def _is_closed(self, board: Board) -> bool:
        """Closed to late events: nothing can come to a board of it any more. (An open period with nobody
        on it yet is an empty board, not a missing one.)"""
        return not board.is_open_at(self._clock(), self._schedule.grace_of(board.window))

    def _freshness(self, board: Board, read: BoardSlice) -> Freshness:
        if read.final:
            return Freshness.FINAL
        if board.is_open_at(self._clock(), self._schedule.grace_of(board.window)):
            return Freshness.LIVE
        return Freshness.CLOSED
