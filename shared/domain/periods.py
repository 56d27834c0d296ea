"""Monthly leaderboard periods: which month an instant belongs to, and where that month starts (UTC)."""

from __future__ import annotations

import calendar
import functools
import re
from datetime import UTC, datetime

from shared.domain.timestamps import now_ms as now_ms  # re-exported until the last user moves to timestamps

PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_PERIOD_RE = re.compile(PERIOD_PATTERN)
DAY_MS = 86_400_000


def period_of(epoch_ms: int) -> str:
    return _period_of_day(epoch_ms // DAY_MS)


# The updater asks for every record of a batch; records cluster on a few days and one or two months.
@functools.lru_cache(maxsize=1024)
def _period_of_day(day: int) -> str:
    moment = datetime.fromtimestamp(day * 86_400, tz=UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def current_period() -> str:
    return period_of(now_ms())


def is_period(text: str) -> bool:
    return _PERIOD_RE.match(text) is not None


@functools.lru_cache(maxsize=256)
def period_start_ms(period: str) -> int:
    if not is_period(period):
        raise ValueError(f"period must look like YYYY-MM, got {period!r}")
    year, month = int(period[:4]), int(period[5:])
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * 1000


def period_end_ms(period: str) -> int:
    """The first instant after `period`: the start of the next month."""
    days = calendar.monthrange(int(period[:4]), int(period[5:]))[1]
    return period_start_ms(period) + days * DAY_MS


def seconds_into_period(epoch_ms: int, period: str) -> int:
    return (epoch_ms - period_start_ms(period)) // 1000
