"""What else the machine was doing: CPU time other processes used while the suite ran.

The benchmarks share 2 cores with anything else running; a busy neighbour slows every figure, so
the JSON records the machine's busy CPU time (from /proc/stat) minus this run's own (this process
and its reaped children: the servers, redis-benchmark, the load generator).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from typing import Any


def _machine_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass
class CpuSnapshot:
    machine_busy: float | None
    own: float
    load_average: tuple[float, float, float]

    @classmethod
    def take(cls) -> CpuSnapshot:
        return cls(_machine_busy_seconds(), _own_seconds(), os.getloadavg())


@dataclass
class Contention:
    own_cpu_seconds: float
    other_cpu_seconds: float | None  # None where /proc/stat is not readable
    other_share: float | None  # of all the machine's CPU time over the run
    load_average_at_start: tuple[float, float, float]
    load_average_at_end: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "own_cpu_seconds": round(self.own_cpu_seconds, 1),
            "other_processes_cpu_seconds": None if self.other_cpu_seconds is None else round(self.other_cpu_seconds, 1),
            "other_processes_share_of_machine": None if self.other_share is None else round(self.other_share, 3),
            "load_average_at_start": [round(v, 2) for v in self.load_average_at_start],
            "load_average_at_end": [round(v, 2) for v in self.load_average_at_end],
        }


def contention(start: CpuSnapshot, end: CpuSnapshot, wall_seconds: float) -> Contention:
    """CPU-seconds other processes used during the run, and their share of all the machine's CPU time."""
    cpus = os.cpu_count() or 1
    own = end.own - start.own
    others: float | None = None
    if start.machine_busy is not None and end.machine_busy is not None:
        others = max(0.0, (end.machine_busy - start.machine_busy) - own)
    share = None if others is None or wall_seconds <= 0 else others / (wall_seconds * cpus)
    return Contention(own, others, share, start.load_average, end.load_average)
