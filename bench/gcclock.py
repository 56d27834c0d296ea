"""How much of a timed stretch the garbage collector took (gc.callbacks), to tell it apart from the code."""

from __future__ import annotations

import gc
import time
from types import TracebackType
from typing import Any


class GcClock:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._started = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections[int(info["generation"])] += 1

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        gc.callbacks.remove(self._callback)

    def share_of(self, total_seconds: float) -> float:
        return self.seconds / total_seconds if total_seconds > 0 else 0.0
