"""Boards: a window (daily, weekly, monthly, all-time) plus a period id. No I/O.

All boundaries are UTC. Period ids:

| window  | period id  | example    | a period starts         |
|---------|------------|------------|-------------------------|
| daily   | YYYY-MM-DD | 2026-12-02 | 00:00                   |
| weekly  | YYYY-Www   | 2026-W49   | Monday 00:00 (ISO 8601) |
| monthly | YYYY-MM    | 2026-12    | the 1st, 00:00          |
| alltime | all        | all        | 2020-01-01, never ends  |

An ISO week belongs to the year holding its Thursday, so 2026-12-31 (a Thursday) is in
2026-W53 and 2027-01-01 too. Calendar windows cover years 0001..9999; the all-time board
covers what its score encoding can hold (see shared.domain.score_codec).
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from shared.domain.score_codec import ALLTIME_MINUTES, SECONDS, ScoreCodec

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
ALLTIME_PERIOD = "all"
ALLTIME_ORIGIN_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# The calendar windows' range: 0001-01-01T00:00Z up to the end of 9999-12-31.
CALENDAR_MIN_MS = (1 - _EPOCH_ORDINAL) * DAY_MS
CALENDAR_END_MS = (date.max.toordinal() + 1 - _EPOCH_ORDINAL) * DAY_MS
# The last instant whose minute the all-time encoding still holds: 2083-10-18T16:31:59.999Z.
ALLTIME_LAST_MS = ALLTIME_ORIGIN_MS + ALLTIME_MINUTES.slots * ALLTIME_MINUTES.tick_ms - 1


ECHO_LIMIT = 40  # characters of a caller's text quoted back in an error message


def _echo(text: str) -> str:
    """The caller's text as an error quotes it: repr'd, and cut short so a huge input makes no huge answer."""
    return repr(text) if len(text) <= ECHO_LIMIT else f"{text[:ECHO_LIMIT]!r}… ({len(text)} characters)"


class InvalidPeriod(ValueError):
    def __init__(self, window: Window, text: str, reason: str = "") -> None:
        self.window = window
        self.text = text
        detail = f" ({reason})" if reason else ""
        super().__init__(f"{window} period must look like {window.period_format}, got {_echo(text)}{detail}")


class UnknownWindow(ValueError):
    def __init__(self, name: str, enabled: tuple[Window, ...]) -> None:
        self.name = str(name)
        super().__init__(f"unknown window {_echo(self.name)}; enabled: {', '.join(enabled)}")


class Window(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    ALLTIME = "alltime"

    @property
    def period_format(self) -> str:
        return _FORMATS[self]

    @property
    def period_pattern(self) -> str:
        """An anchored regular expression for the shape of this window's period ids."""
        return _PATTERNS[self]

    @property
    def codec(self) -> ScoreCodec:
        return ALLTIME_MINUTES if self is Window.ALLTIME else SECONDS

    def period_of(self, epoch_ms: int) -> str:
        """The id of the period holding the instant; ValueError outside the window's range."""
        return self.board_at(epoch_ms).period

    def board_at(self, epoch_ms: int) -> Board:
        if self is Window.ALLTIME:
            if not ALLTIME_ORIGIN_MS <= epoch_ms <= ALLTIME_LAST_MS:
                raise ValueError(
                    f"the alltime board holds instants from {_utc(ALLTIME_ORIGIN_MS)} to {_utc(ALLTIME_LAST_MS)}, "
                    f"got {epoch_ms} ms"
                )
            return _ALLTIME_BOARD
        if not CALENDAR_MIN_MS <= epoch_ms < CALENDAR_END_MS:
            raise ValueError(f"the {self} boards hold the years 0001..9999 (UTC), got {epoch_ms} ms")
        return _calendar_board(self, epoch_ms // DAY_MS)

    def parse_period(self, text: str) -> Board:
        """The board of a period id in this window's format, or InvalidPeriod."""
        return Board(self, text)

    def current(self, now_ms: int) -> Board:
        return self.board_at(now_ms)

    def next_reset_ms(self, now_ms: int) -> int | None:
        """When the current period ends; None for the all-time board."""
        return self.board_at(now_ms).end_ms

    def recent_periods(self, now_ms: int, count: int) -> tuple[str, ...]:
        """The ids of the current period and up to count - 1 before it, newest first."""
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        periods: list[str] = []
        board: Board | None = self.current(now_ms)
        while board is not None and len(periods) < count:
            periods.append(board.period)
            board = board.previous()
        return tuple(periods)


_FORMATS = {
    Window.DAILY: "YYYY-MM-DD",
    Window.WEEKLY: "YYYY-Www (ISO week)",
    Window.MONTHLY: "YYYY-MM",
    Window.ALLTIME: "all",
}
# The shape of each window's period ids (ASCII digits only), as the API documents them; whether the
# date exists or the year has that week is checked on top.
_PATTERNS = {
    Window.DAILY: r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    Window.WEEKLY: r"^[0-9]{4}-W[0-9]{2}$",
    Window.MONTHLY: r"^[0-9]{4}-(0[1-9]|1[0-2])$",
    Window.ALLTIME: rf"^{ALLTIME_PERIOD}$",
}
_SHAPES = {window: re.compile(pattern) for window, pattern in _PATTERNS.items()}
_NUMBERS = re.compile("[0-9]+")


@dataclass(frozen=True, slots=True)
class Board:
    """One leaderboard: a window and one of its periods. Build it with Window.board_at or
    Window.parse_period; constructing it directly validates the period too."""

    window: Window
    period: str
    start_ms: int = field(init=False, compare=False, repr=False)
    """The first instant of the period; the all-time board starts at its fixed origin."""
    end_ms: int | None = field(init=False, compare=False, repr=False)
    """The first instant after the period; None for the all-time board, which never ends."""

    def __post_init__(self) -> None:
        start = _period_start_ms(self.window, self.period)
        object.__setattr__(self, "start_ms", start)
        object.__setattr__(self, "end_ms", _period_end_ms(self.window, self.period, start))

    @property
    def key(self) -> str:
        """The sorted set's Redis key; its hash tag is the board, so the keys that go with it
        (watermarks, applied events) can share its Redis Cluster slot."""
        return f"lb:{{{self.window}:{self.period}}}"

    @property
    def codec(self) -> ScoreCodec:
        return self.window.codec

    def contains(self, epoch_ms: int) -> bool:
        if self.end_ms is None:
            return self.start_ms <= epoch_ms <= ALLTIME_LAST_MS
        return self.start_ms <= epoch_ms < self.end_ms

    def closes_at_ms(self, grace_ms: int) -> int | None:
        """From this instant on, late events are refused; None: never closes."""
        if grace_ms < 0:
            raise ValueError(f"grace must not be negative, got {grace_ms} ms")
        end = self.end_ms
        return None if end is None else end + grace_ms

    def is_open_at(self, at_ms: int, grace_ms: int) -> bool:
        closes = self.closes_at_ms(grace_ms)
        return closes is None or at_ms < closes

    def ticks_at(self, epoch_ms: int) -> int:
        """Whole ticks of this board's codec from its start to the instant."""
        if not self.contains(epoch_ms):
            raise ValueError(f"{epoch_ms} ms is not within the {self.window} period {self.period}")
        return (epoch_ms - self.start_ms) // self.codec.tick_ms

    def encode(self, points: int, reached_at_ms: int) -> int:
        return self.codec.encode(points, self.ticks_at(reached_at_ms))

    def previous(self) -> Board | None:
        """The period before this one; None before the first (and for the all-time board)."""
        if self.window is Window.ALLTIME or self.start_ms <= CALENDAR_MIN_MS:
            return None
        return self.window.board_at(self.start_ms - 1)


def _period_end_ms(window: Window, period: str, start_ms: int) -> int | None:
    if window is Window.DAILY:
        return start_ms + DAY_MS
    if window is Window.WEEKLY:
        return start_ms + WEEK_MS
    if window is Window.MONTHLY:
        return start_ms + calendar.monthrange(int(period[:4]), int(period[5:7]))[1] * DAY_MS
    return None


def _utc(epoch_ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=4096)
def _calendar_board(window: Window, day: int) -> Board:
    # The updater asks once per record and board; records cluster on a few days.
    moment = date.fromordinal(_EPOCH_ORDINAL + day)
    if window is Window.DAILY:
        return Board(window, f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}")
    if window is Window.MONTHLY:
        return Board(window, f"{moment.year:04d}-{moment.month:02d}")
    thursday = date.fromordinal(moment.toordinal() - moment.weekday() + 3)
    year = thursday.year
    week = (thursday.toordinal() - _week_one_monday(year)) // 7 + 1
    return Board(window, f"{year:04d}-W{week:02d}")


def _week_one_monday(year: int) -> int:
    """The ordinal of the Monday starting ISO week 1: the week holding 4 January."""
    january_4 = date(year, 1, 4)
    return january_4.toordinal() - january_4.weekday()


def _weeks_in(year: int) -> int:
    january_1 = date(year, 1, 1).weekday()
    return 53 if january_1 == calendar.THURSDAY or (calendar.isleap(year) and january_1 == calendar.WEDNESDAY) else 52


def _period_start_ms(window: Window, text: str) -> int:
    if _SHAPES[window].fullmatch(text) is None:
        raise InvalidPeriod(window, text)
    if window is Window.ALLTIME:
        return ALLTIME_ORIGIN_MS
    numbers = [int(number) for number in _NUMBERS.findall(text)]
    year = numbers[0]
    if year < 1:
        raise InvalidPeriod(window, text, "years start at 0001")
    if window is Window.WEEKLY:
        week = numbers[1]
        if not 1 <= week <= _weeks_in(year):
            raise InvalidPeriod(window, text, f"{year:04d} has weeks 01..{_weeks_in(year):02d}")
        day = _week_one_monday(year) + (week - 1) * 7
    else:
        try:
            day = date(year, numbers[1], numbers[2] if window is Window.DAILY else 1).toordinal()
        except ValueError as problem:
            raise InvalidPeriod(window, text, str(problem)) from None
    return (day - _EPOCH_ORDINAL) * DAY_MS


DEFAULT_WINDOWS = "daily,weekly,monthly,alltime"


def parse_windows(text: str = DEFAULT_WINDOWS, *, setting: str = "LEADERBOARD_WINDOWS") -> tuple[Window, ...]:
    """The enabled windows from a comma-separated list, in the order daily, weekly, monthly, alltime."""
    known = ", ".join(Window)
    names = [name.strip() for name in text.split(",")]
    if names == [""]:
        raise ValueError(f"{setting} must list at least one window of: {known}")
    chosen: set[Window] = set()
    for name in names:
        if not name:
            raise ValueError(f"{setting} has an empty entry in {text!r}; list windows of: {known}")
        if name not in _BY_NAME:
            raise ValueError(f"{setting} names an unknown window {name!r}; known: {known}")
        if _BY_NAME[name] in chosen:
            raise ValueError(f"{setting} lists {name!r} twice")
        chosen.add(_BY_NAME[name])
    return tuple(window for window in Window if window in chosen)


def enabled_window(name: str, enabled: tuple[Window, ...]) -> Window:
    """The window a route names, or UnknownWindow (a 404) when it is unknown or not enabled."""
    window = _BY_NAME.get(name)
    if window is None or window not in enabled:
        raise UnknownWindow(name, enabled)
    return window


_BY_NAME = {window.value: window for window in Window}
_ALLTIME_BOARD = Board(Window.ALLTIME, ALLTIME_PERIOD)


# How far back GET /v1/leaderboards/{window}/periods looks, the current period included. Any period
# can still be read by its id; these are the ones listed (when they hold players).
PERIODS_LISTED = {
    Window.DAILY: 14,
    Window.WEEKLY: 8,
    Window.MONTHLY: 12,
    Window.ALLTIME: 1,
}


DEFAULT_GRACE_MS = {
    Window.DAILY: 2 * 3_600_000,
    Window.WEEKLY: DAY_MS,
    Window.MONTHLY: 3 * DAY_MS,
}
# A grace longer than this is a typo, not a policy. Replays of history into past periods (and the
# tests, which write into months up to 19 years back) set long graces, hence 20 years, not one.
MAX_GRACE_MS = 7_300 * DAY_MS

# How long a closed board stays in Redis before it expires (0: kept). A daily or weekly board lives
# as long as GET /v1/leaderboards/{window}/periods lists it, so every period listed can be read.
DEFAULT_RETENTION_MS = {
    Window.DAILY: PERIODS_LISTED[Window.DAILY] * DAY_MS,
    Window.WEEKLY: PERIODS_LISTED[Window.WEEKLY] * WEEK_MS,
    Window.MONTHLY: 0,
}
MAX_RETENTION_MS = 3_650 * DAY_MS


@dataclass(frozen=True, slots=True)
class BoardSchedule:
    """Which windows keep boards, and how long after its period ended each still takes late events.

    The one rule ingest (for its answer) and the updater (for what it applies) share: an event
    counts on the board of each enabled window whose period holds its `occurred_at` and was still
    open when the event was received. The all-time board never closes.
    """

    windows: tuple[Window, ...]
    grace_ms: Mapping[Window, int] = field(default_factory=lambda: dict(DEFAULT_GRACE_MS))
    retention_ms: Mapping[Window, int] = field(default_factory=lambda: dict(DEFAULT_RETENTION_MS))

    def grace_of(self, window: Window) -> int:
        return 0 if window is Window.ALLTIME else self.grace_ms.get(window, DEFAULT_GRACE_MS[window])

    def expires_at_ms(self, board: Board) -> int | None:
        """When the board (with its watermarks) leaves Redis: its retention after it closed to late
        events. None: kept, for a window whose retention is 0 and for the all-time board."""
        closes = board.closes_at_ms(self.grace_of(board.window))
        if closes is None:
            return None
        retention = self.retention_ms.get(board.window, DEFAULT_RETENTION_MS[board.window])
        return closes + retention if retention > 0 else None

    def boards_for(self, occurred_at_ms: int, received_at_ms: int | None) -> list[Board]:
        """The boards an event counts on; `received_at_ms` None: when it was received is unknown, so
        no board is closed to it. Windows whose range does not hold `occurred_at_ms` are left out."""
        boards: list[Board] = []
        for window in self.windows:
            try:
                board = window.board_at(occurred_at_ms)
            except ValueError:
                continue
            if received_at_ms is None or board.is_open_at(received_at_ms, self.grace_of(window)):
                boards.append(board)
        return boards
