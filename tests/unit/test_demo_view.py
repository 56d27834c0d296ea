"""The demo's live view: which window a key shows, what the screen says, and the terminal left as found."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import resource
import termios
import threading
from collections.abc import Iterator
from typing import Any, TextIO

import pytest

from local_runtime.demo import DemoModeration, KeyPresses, TrafficStats, fetch_top, render, switch_window
from local_runtime.msk_trigger import TriggerCounters
from shared.domain.boards import Window


@pytest.mark.parametrize(
    ("current", "key", "shown"),
    [
        (Window.MONTHLY, "d", Window.DAILY),
        (Window.MONTHLY, "W", Window.WEEKLY),
        (Window.DAILY, "a", Window.ALLTIME),
        (Window.ALLTIME, "m", Window.MONTHLY),
        (Window.DAILY, "\t", Window.WEEKLY),
        (Window.ALLTIME, " ", Window.DAILY),
        (Window.WEEKLY, "x", Window.WEEKLY),
        (Window.WEEKLY, None, Window.WEEKLY),
    ],
)
def test_a_key_picks_the_window_shown(current: Window, key: str | None, shown: Window) -> None:
    assert switch_window(current, key) is shown


def screen(top: dict[str, Any], window: Window) -> list[str]:
    return render(top, window, TrafficStats(), TriggerCounters(), 3.0, 60.0).splitlines()


def test_the_screen_names_the_window_and_its_period() -> None:
    top = {"period": "2026-W49", "total": 2, "entries": [{"rank": 1, "user_id": "alice", "points": 7}]}
    lines = screen(top, Window.WEEKLY)
    assert "[weekly]" in lines[4] and "[monthly]" not in lines[4]
    assert lines[5].startswith("weekly period 2026-W49")
    assert lines[7].split() == ["1", "alice", "7"]


def test_an_error_answer_is_shown_for_the_window() -> None:
    top = {"error": {"code": "unknown_window", "message": "the daily window is not enabled"}}
    assert screen(top, Window.DAILY)[5] == "daily: unknown_window: the daily window is not enabled"


def test_the_view_reads_the_windows_route(monkeypatch: pytest.MonkeyPatch) -> None:
    requests: list[tuple[str, str]] = []

    class RecordingConnection:
        def __init__(self, host: str, port: int, timeout: float) -> None:
            self.target = (host, port)

        def request(self, method: str, path: str) -> None:
            requests.append((method, path))

        def getresponse(self) -> RecordingConnection:
            return self

        def read(self) -> bytes:
            return json.dumps({"period": "all", "total": 0, "entries": []}).encode()

        def close(self) -> None:
            pass

    monkeypatch.setattr("http.client.HTTPConnection", RecordingConnection)
    assert fetch_top("http://127.0.0.1:3000", Window.ALLTIME)["period"] == "all"
    assert requests == [("GET", "/v1/leaderboards/alltime/top?limit=10")]


@pytest.fixture
def terminal() -> Iterator[tuple[int, TextIO]]:
    """A pseudo-terminal: the keyboard end (written to) and the program's end, as its stdin."""
    keyboard, program = pty.openpty()
    with os.fdopen(program, "r") as stdin:
        try:
            yield keyboard, stdin
        finally:
            os.close(keyboard)


def test_keys_arrive_without_enter_and_the_terminal_is_restored(terminal: tuple[int, TextIO]) -> None:
    keyboard, stdin = terminal
    before = termios.tcgetattr(stdin.fileno())
    with KeyPresses(stdin) as keys:
        assert not termios.tcgetattr(stdin.fileno())[3] & termios.ICANON
        os.write(keyboard, b"w")
        assert keys.wait(30.0, threading.Event()) == "w"
    assert termios.tcgetattr(stdin.fileno()) == before


def test_waiting_ends_when_the_demo_stops(terminal: tuple[int, TextIO]) -> None:
    _, stdin = terminal
    stop = threading.Event()
    stop.set()
    with KeyPresses(stdin) as keys:
        assert keys.wait(30.0, stop) is None


def test_no_key_comes_from_a_stream_that_is_not_a_terminal() -> None:
    stopped = threading.Event()
    stopped.set()  # no timed wait: it would never end under a clock-shifting LD_PRELOAD that fakes the monotonic clock
    with KeyPresses(io.StringIO("w")) as keys:
        assert keys.wait(0.01, stopped) is None


class AdminRecorder:
    """Stands for the admin routes: records each request and accepts it."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, body))
        return 202, {"action_id": f"a{len(self.requests)}"}


def top_led_by(user_id: str) -> dict[str, Any]:
    return {"period": "2026-12", "total": 2, "entries": [{"rank": 1, "user_id": user_id, "points": 9}]}


@pytest.mark.moderation
def test_the_demo_bans_the_leader_a_third_of_the_way_in_and_lifts_the_ban_at_two_thirds() -> None:
    admin = AdminRecorder()
    moderation = DemoModeration(admin, duration=60.0)
    moderation.step(19.0, top_led_by("cheater 1"))
    assert admin.requests == []
    moderation.step(20.0, {"entries": []})  # nobody to ban yet: it waits for a leader
    assert admin.requests == []
    moderation.step(21.0, top_led_by("cheater 1"))
    moderation.step(30.0, top_led_by("honest"))  # the new leader is left alone
    moderation.step(40.0, top_led_by("honest"))
    moderation.step(50.0, top_led_by("cheater 1"))
    assert [(method, path) for method, path, _ in admin.requests] == [
        ("PUT", "/v1/admin/players/cheater%201/ban"),
        ("DELETE", "/v1/admin/players/cheater%201/ban"),
    ]
    assert all(body["reason"] for _, _, body in admin.requests)
    shown = "\n".join(screen_with(moderation.events))
    assert "ban cheater 1 (action a1)" in shown
    assert "unban cheater 1 (action a2)" in shown


@pytest.mark.moderation
def test_a_refused_ban_is_shown_and_not_retried() -> None:
    def refuse(method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 403, {"error": {"code": "forbidden"}}

    moderation = DemoModeration(refuse, duration=3.0)
    moderation.step(1.0, top_led_by("leader"))
    moderation.step(2.5, top_led_by("leader"))
    assert len(moderation.events) == 1
    assert "refused: 403" in moderation.events[0]


def screen_with(events: list[str]) -> list[str]:
    return render(top_led_by("x"), Window.MONTHLY, TrafficStats(), TriggerCounters(), 3.0, 60.0, events).splitlines()


def test_keys_arrive_on_a_descriptor_numbered_above_select_s_limit(terminal: tuple[int, TextIO]) -> None:
    keyboard, stdin = terminal
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    high = fcntl.fcntl(stdin.fileno(), fcntl.F_DUPFD, 1100)  # a process with many sockets open
    try:
        with os.fdopen(high, "r", closefd=False) as program, KeyPresses(program) as keys:
            os.write(keyboard, b"q")
            assert keys.wait(30.0, threading.Event()) == "q"
    finally:
        os.close(high)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
