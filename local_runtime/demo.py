"""A bounded traffic simulator and a live top 10 of a window you switch with a key, for
`python -m local_runtime demo`."""

from __future__ import annotations

import http.client
import json
import os
import random
import select
import sys
import termios
import threading
import time
import tty
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from local_runtime.msk_trigger import TriggerCounters
from shared.domain.boards import Window

MAX_RATE = 5000  # events/s
MAX_PLAYERS = 1_000_000
MAX_DURATION_SECONDS = 3600
MAX_BATCH = 500  # the batch route's limit
TICK_SECONDS = 0.1
# A window's key is its initial; Tab or space moves to the next window, q stops the demo.
WINDOW_KEYS = {window.value[0]: window for window in Window}
NEXT_WINDOW_KEYS = ("\t", " ")
QUIT_KEY = "q"


@dataclass
class TrafficStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0  # events in batches answered with a 4xx/5xx
    errors: int = 0  # requests that failed at the connection level
    last_problem: str = ""


class TrafficSimulator:
    """POSTs random match results (random players, 1..100 points) to /v1/scores/batch at `rate`/s."""

    def __init__(self, api_url: str, api_key: str, *, rate: int, players: int, duration: float) -> None:
        if not (1 <= rate <= MAX_RATE and 1 <= players <= MAX_PLAYERS and 0 < duration <= MAX_DURATION_SECONDS):
            raise ValueError(f"rate 1..{MAX_RATE}, players 1..{MAX_PLAYERS}, duration 1..{MAX_DURATION_SECONDS} s")
        target = urlsplit(api_url)
        self._host, self._port = target.hostname or "127.0.0.1", target.port or 80
        self._api_key = api_key
        self.rate, self.players, self.duration = rate, players, duration
        self.stats = TrafficStats()
        self._random = random.Random()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic-simulator", daemon=True)

    def start(self) -> TrafficSimulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def _run(self) -> None:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=10)
        started = time.monotonic()
        generated = 0
        try:
            while not self._stopping.is_set():
                elapsed = min(time.monotonic() - started, self.duration)
                # Paced by the clock, not by ticks: slow responses do not lower the rate.
                owed = int(self.rate * elapsed) - generated
                while owed > 0 and not self._stopping.is_set():
                    size = min(owed, MAX_BATCH)
                    connection = self._post(connection, [self._event() for _ in range(size)])
                    generated += size
                    owed -= size
                if elapsed >= self.duration:
                    break
                self._stopping.wait(TICK_SECONDS)
        finally:
            connection.close()

    def _event(self) -> dict[str, Any]:
        return {
            "match_id": f"demo-{uuid.uuid4().hex[:16]}",
            "user_id": f"player-{self._random.randrange(self.players):06d}",
            "points": self._random.randint(1, 100),
        }

    def _post(self, connection: http.client.HTTPConnection, events: list[dict[str, Any]]) -> http.client.HTTPConnection:
        body = json.dumps({"scores": events})
        headers = {"Content-Type": "application/json", "x-api-key": self._api_key}
        self.stats.sent += len(events)
        try:
            connection.request("POST", "/v1/scores/batch", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as failure:
            self.stats.errors += 1
            self.stats.last_problem = str(failure)
            connection.close()
            return http.client.HTTPConnection(self._host, self._port, timeout=10)
        if response.status == 202:
            self.stats.accepted += len(events)
        else:
            self.stats.rejected += len(events)
            self.stats.last_problem = f"{response.status} {answer[:200].decode(errors='replace')}"
        return connection


# (method, path, body) -> (status, answer): one admin request.
AdminCall = Callable[[str, str, dict[str, Any]], tuple[int, dict[str, Any]]]
# Of the demo's duration: when the leader is banned, and when the ban is lifted.
BAN_AT_SHARE = 1 / 3
UNBAN_AT_SHARE = 2 / 3


def admin_caller(api_url: str, admin_api_key: str) -> AdminCall:
    """Admin requests to the local API, with the admin key (ADMIN_API_KEY)."""
    target = urlsplit(api_url)

    def call(method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=10)
        try:
            headers = {"Content-Type": "application/json", "x-api-key": admin_api_key}
            connection.request(method, path, body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return response.status, answer
        finally:
            connection.close()

    return call


@dataclass
class DemoModeration:
    """Bans the leader of the board shown partway through the demo, then lifts the ban: the top 10
    changes, then changes back (docs/MODERATION.md)."""

    call: AdminCall
    duration: float
    banned: str | None = None
    lifted: bool = False
    events: list[str] = field(default_factory=list)

    def step(self, elapsed: float, top: dict[str, Any]) -> None:
        if self.banned is None and elapsed >= self.duration * BAN_AT_SHARE:
            entries = top.get("entries") or []
            if entries:
                self._act("PUT", str(entries[0]["user_id"]), elapsed, "demo: the leader is banned")
        elif self.banned is not None and not self.lifted and elapsed >= self.duration * UNBAN_AT_SHARE:
            self._act("DELETE", self.banned, elapsed, "demo: the ban is lifted")

    def _act(self, method: str, user_id: str, elapsed: float, reason: str) -> None:
        try:
            status, answer = self.call(method, f"/v1/admin/players/{quote(user_id, safe='')}/ban", {"reason": reason})
        except (OSError, ValueError, http.client.HTTPException) as failure:
            status, answer = 0, {"error": {"message": str(failure)}}
        verb = "ban" if method == "PUT" else "unban"
        self.banned = user_id
        # Either way this step is done: a refused ban is not retried and leaves nothing to lift.
        self.lifted = method == "DELETE" or status != 202
        if status != 202:
            self.events.append(f"{elapsed:5.0f} s  {verb} {user_id} refused: {status} {answer.get('error')}")
            return
        self.events.append(f"{elapsed:5.0f} s  {verb} {user_id} (action {answer['action_id']})")


def switch_window(current: Window, key: str | None) -> Window:
    """The window a key press selects; any other key keeps the current one."""
    if key in NEXT_WINDOW_KEYS:
        windows = list(Window)
        return windows[(windows.index(current) + 1) % len(windows)]
    return WINDOW_KEYS.get((key or "").lower(), current)


class KeyPresses:
    """Single key presses from a terminal, without Enter: cbreak mode while in use, the terminal's
    settings restored after. When the stream is not a terminal no key ever arrives."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._fd: int | None = None
        self._saved: list[Any] | None = None

    def __enter__(self) -> KeyPresses:
        if self._stream.isatty():
            self._fd = self._stream.fileno()
            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._fd is not None and self._saved is not None:
            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)

    def wait(self, seconds: float, stop: threading.Event) -> str | None:
        """The first key pressed within `seconds`, or None; returns early once `stop` is set."""
        if self._fd is None:
            stop.wait(seconds)
            return None
        deadline = time.monotonic() + seconds
        # poll, not select: select() refuses a descriptor numbered 1024 or above.
        watch = select.poll()
        watch.register(self._fd, select.POLLIN)
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if watch.poll(min(left, TICK_SECONDS) * 1000):
                return os.read(self._fd, 1).decode(errors="replace") or None
        return None


def fetch_top(api_url: str, window: Window, limit: int = 10) -> dict[str, Any]:
    """The window's current top, or the API's error answer (a disabled window is a 404)."""
    target = urlsplit(api_url)
    connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port or 80, timeout=5)
    try:
        connection.request("GET", f"/v1/leaderboards/{window}/top?limit={limit}")
        response = connection.getresponse()
        answer: dict[str, Any] = json.loads(response.read() or b"{}")
        return answer
    finally:
        connection.close()


def window_line(shown: Window) -> str:
    names = "  ".join(f"[{window}]" if window is shown else f" {window} " for window in Window)
    return f"window {names}   (keys {'/'.join(WINDOW_KEYS)} or Tab to switch)"


def render(
    top: dict[str, Any],
    window: Window,
    traffic: TrafficStats,
    updater: TriggerCounters,
    elapsed: float,
    duration: float,
    moderation: list[str] | None = None,
) -> str:
    lines = [
        f"leaderboard demo  {elapsed:5.0f} / {duration:.0f} s      (Ctrl-C or {QUIT_KEY} to stop)",
        f"traffic: sent {traffic.sent}  accepted {traffic.accepted}  rejected {traffic.rejected}  "
        f"errors {traffic.errors}",
        f"updater: {updater.batches} batches, {updater.records} records, {updater.failures} failed",
        "",
        window_line(window),
    ]
    error = top.get("error")
    if isinstance(error, dict):
        lines.append(f"{window}: {error.get('code', '?')}: {error.get('message', '')}")
    else:
        lines += [
            f"{window} period {top.get('period', '?')}   players on the board: {top.get('total', '?')}",
            f"{'rank':>4}  {'player':<24} {'points':>10}",
        ]
        for entry in top.get("entries", []):
            lines.append(f"{entry['rank']:>4}  {str(entry['user_id'])[:24]:<24} {entry['points']:>10}")
    if moderation:
        lines += ["", "moderation (admin routes):", *moderation]
    if traffic.last_problem:
        lines += ["", f"last problem: {traffic.last_problem}"]
    return "\n".join(lines)


def redraw(screen: str, out: TextIO = sys.stdout) -> None:
    out.write("\x1b[H\x1b[2J" + screen + "\n")  # cursor home, clear screen
    out.flush()
