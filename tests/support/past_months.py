"""Past months for tests that write scores: each test gets a board no other test writes to."""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared.domain.boards import Window


@dataclass(frozen=True)
class Month:
    """A past month no other test writes to, so each test reads a board of its own."""

    period: str
    start_ms: int

    def at(self, seconds: int) -> int:
        return self.start_ms + seconds * 1000


_used_periods: set[str] = set()


def unused_past_month() -> Month:
    while True:
        period = f"{random.randint(2001, 2020)}-{random.randint(1, 12):02d}"
        if period not in _used_periods:
            _used_periods.add(period)
            return Month(period, Window.MONTHLY.parse_period(period).start_ms)
