"""The bench's CPU split: the server on its own CPU while the block runs, and every thread back on
every CPU after it, threads started inside included."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from bench.machine import server_on_its_own_core


@pytest.fixture
def server() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    yield child.pid
    child.kill()
    child.wait()


def test_the_server_gets_a_cpu_of_its_own_and_every_thread_gets_all_back(server: int) -> None:
    everything = os.sched_getaffinity(0)
    started_inside: list[set[int]] = []
    release = threading.Event()

    def worker() -> None:
        started_inside.append(os.sched_getaffinity(0))
        release.wait(10)
        started_inside.append(os.sched_getaffinity(0))

    with server_on_its_own_core(server) as how:
        assert how.startswith("Redis server on CPU")
        (server_cpu,) = os.sched_getaffinity(server)
        assert server_cpu not in os.sched_getaffinity(0)
        thread = threading.Thread(target=worker)
        thread.start()
    release.set()
    thread.join()
    assert started_inside == [everything - {server_cpu}, everything], "a thread started inside is let go too"
    assert os.sched_getaffinity(0) == everything
    assert os.sched_getaffinity(server) == everything


def test_a_server_that_cannot_be_pinned_is_reported_as_sharing() -> None:
    before = os.sched_getaffinity(0)
    with server_on_its_own_core(2**22 + 12345) as how:  # no such process
        assert how.startswith("shared")
        assert os.sched_getaffinity(0) == before
