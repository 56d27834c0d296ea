"""Imported at start-up by every Python process of `make test-shifted-clock` (it is on PYTHONPATH).

That target runs under libfaketime with FAKETIME_DONT_FAKE_MONOTONIC=1: with a faked monotonic
clock, Python's timed waits (threading, queue, subprocess) sleep until a deadline decades away
(wolfcw/libfaketime#390). With the real one, libfaketime 0.9.10 (Debian 12) mistranslates the
absolute CLOCK_MONOTONIC deadline that Python 3.11's time.sleep hands to clock_nanosleep, and the
call fails with EINVAL (wolfcw/libfaketime#426). select() takes a relative timeout, which
libfaketime leaves alone, so time.sleep is routed through it.
"""

import os
import select
import time
from typing import SupportsIndex


def _sleep(seconds: float | SupportsIndex) -> None:
    select.select([], [], [], float(seconds))


if "libfaketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":
    time.sleep = _sleep
