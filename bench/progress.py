"""Progress lines on stderr: one line per step, prefixed with the time since the suite started."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def step(self, message: str) -> None:
        minutes, seconds = divmod(self.elapsed, 60)
        print(f"[{int(minutes):3d}:{seconds:04.1f}] {message}", file=self._stream, flush=True)
