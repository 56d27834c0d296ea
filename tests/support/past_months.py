"""Past months for tests that write scores: each test gets a board no other test writes to."""

from __future__ import annotations

import random
from dataclasses import dataclass

from shared.domain.boards import Window
from shared.domain.timestamps import now_ms

# The months a test may get: from two before the current one (no test posting "now" writes there)
# back 19 years, all still open to late events under the stacks' grace (tests.support.local_stack).
NEWEST_MONTHS_BACK = 2
OLDEST_MONTHS_BACK = 19 * 12


@dataclass(frozen=True)
class Month:
    """A past month no other test writes to, so each test reads a board of its own."""

    period: str
    start_ms: int

    def at(self, seconds: int) -> int:
        return self.start_ms + seconds * 1000


_used_periods: set[str] = set()


def reserve_months(*periods: str) -> None:
    """Keep months that a test writes at fixed instants on the shared servers from being handed out."""
    _used_periods.update(periods)


def unused_past_month() -> Month:
    if len(_used_periods) > OLDEST_MONTHS_BACK - NEWEST_MONTHS_BACK:
        raise RuntimeError(f"every past month is taken: {len(_used_periods)} tests asked for one")
    current = Window.MONTHLY.current(now_ms()).period
    current_index = int(current[:4]) * 12 + int(current[5:7]) - 1
    while True:
        index = current_index - random.randint(NEWEST_MONTHS_BACK, OLDEST_MONTHS_BACK)
        period = f"{index // 12:04d}-{index % 12 + 1:02d}"
        if period not in _used_periods:
            _used_periods.add(period)
            return Month(period, Window.MONTHLY.parse_period(period).start_ms)
