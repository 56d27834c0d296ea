"""What else the machine was doing: CPU time other processes used while the suite ran.

The benchmarks share 2 cores with anything else running; a busy neighbour slows every figure, so
the JSON records the machine's busy CPU time (from /proc/stat) minus this run's own (this process
and its reaped children: the servers, redis-benchmark, the load generator).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager
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


def _threads_of(pid: int | str) -> list[int]:
    try:
        return [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def _pin(pid: int | str, cpus: set[int]) -> dict[int, set[int]]:
    """Pin every thread of `pid` to `cpus`; each thread's former CPUs, to put back."""
    former: dict[int, set[int]] = {}
    for tid in _threads_of(pid):
        try:
            former[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
        except OSError:  # the thread ended meanwhile
            continue
    return former


@contextmanager
def server_on_its_own_core(server_pid: int) -> Iterator[str]:
    """The Redis server on one CPU and this process (all its threads, and those it starts) on the
    others, as in AWS, where ElastiCache and Lambda are different hosts: sharing 2 CPUs, the updater's
    threads preempt Redis mid-script. Yields how the CPUs were shared, for the results."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(available) < 2 or not _threads_of(server_pid):
        yield "shared: fewer than 2 CPUs, or no /proc"
        return
    server_cpu, own_cpus = {available[-1]}, set(available[:-1])
    server_former = _pin(server_pid, server_cpu)
    if not server_former:
        yield "shared: the Redis server's threads could not be pinned"
        return
    own_mask = os.sched_getaffinity(0)
    _pin("self", own_cpus)
    try:
        own = ", ".join(map(str, sorted(own_cpus)))
        yield f"Redis server on CPU {available[-1]}, the bench and the handler on CPU {own}"
    finally:
        # Every thread of this process now, those started inside (the handler's apply threads) too.
        _pin("self", own_mask)
        for tid, cpus in server_former.items():
            try:
                os.sched_setaffinity(tid, cpus)
            except OSError:
                continue
