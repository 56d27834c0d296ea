"""Child processes that are always reaped: terminate, then kill, plus an atexit safety net."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

_live: set[ChildProcess] = set()
_live_lock = threading.Lock()


class ServerStartError(RuntimeError):
    """A server could not be started, or did not become ready in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_binary_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for Debian's Redis binaries (redis-server, redis-cli, redis-benchmark).

    They are linked with jemalloc, which cannot start under libfaketime (wolfcw/libfaketime#130:
    "Unexpected recursive calls to clock_gettime()"), so a run under `faketime` starts them without
    it: Redis keeps the machine's clock, as the Tansu broker does (a static binary ignores
    LD_PRELOAD). Keys expire by relative TTLs (EX/PX), so Redis' clock need not agree with the shifted one.
    """
    source = os.environ if environ is None else environ
    kept = {name: value for name, value in source.items() if not name.startswith("FAKETIME")}
    entries = re.split(r"[:\s]+", kept.get("LD_PRELOAD", ""))
    preload = [entry for entry in entries if entry and "libfaketime" not in entry]
    if preload:
        kept["LD_PRELOAD"] = " ".join(preload)
    else:
        kept.pop("LD_PRELOAD", None)
    return kept


def _parent_death_prefix() -> list[str]:
    # setpriv (util-linux) makes the kernel send SIGTERM to the child when the thread that started
    # it dies, so a SIGKILLed test run (no atexit) still leaves no server behind. Linux sends it when
    # the *starting thread* exits: start servers from a long-lived thread such as the main thread.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []


class ChildProcess:
    """One long-running server process, in its own session, with stdout and stderr in a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._popen is None:
            raise RuntimeError(f"{self.name} is not started")
        return self._popen.pid

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._popen = subprocess.Popen(
                [*_parent_death_prefix(), *self.argv],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=self.env,
                # Own session: a terminal Ctrl-C reaches only us, and we stop children in order.
                start_new_session=True,
            )
        with _live_lock:
            _live.add(self)
        logger.debug("started %s (pid %d): %s", self.name, self._popen.pid, " ".join(self.argv))

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll `ready` until true; fail early, with the log's tail, if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                raise ServerStartError(f"{self.name} exited before {what}:\n{self.log_tail()}")
            if ready():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"{self.name} not {what} after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        self._signal_and_reap(signal.SIGTERM, timeout)

    def kill(self) -> None:
        self._signal_and_reap(signal.SIGKILL, 10.0)

    def _signal_and_reap(self, signum: signal.Signals, timeout: float) -> None:
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            _signal_quietly(popen.pid, signum)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.info("%s still running %.0f s after %s; killing it", self.name, timeout, signum.name)
                _signal_quietly(popen.pid, signal.SIGKILL)
                popen.wait()
        with _live_lock:
            was_live = self in _live
            _live.discard(self)
        if was_live:
            logger.debug("%s (pid %d) exited with %s", self.name, popen.pid, popen.returncode)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def _signal_quietly(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


@atexit.register
def _stop_leftover_children() -> None:
    with _live_lock:
        leftovers = list(_live)
    for child in leftovers:
        child.stop(timeout=5.0)
