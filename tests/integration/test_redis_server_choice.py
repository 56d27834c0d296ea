"""REDIS_SERVER starts the server it names, for a standalone server and for a sentinel alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from local_runtime.processes import ServerStartError
from local_runtime.redis_binaries import SERVER_VARIABLE
from local_runtime.redis_topologies import SentinelProcess
from local_runtime.servers import RedisServer


def server_info(port: int) -> dict[str, str]:
    client = redis.Redis(port=port, decode_responses=True)
    try:
        return {str(key): str(value) for key, value in client.info("server").items()}
    finally:
        client.close()


def named_server(info: dict[str, str]) -> str:
    # Valkey answers as redis_version 7.2.4 for old clients and names itself in server_name.
    return (
        "valkey " + info["valkey_version"] if info.get("server_name") == "valkey" else "redis " + info["redis_version"]
    )


@pytest.mark.parametrize("kind", ["valkey", "redis"])
def test_the_named_server_runs_standalone_and_as_a_sentinel(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SERVER_VARIABLE, kind)
    primary = RedisServer.start(tmp_path)
    sentinel = None
    try:
        assert primary.binary.kind == kind
        info = server_info(primary.port)
        assert named_server(info) == primary.binary.version
        assert Path(info["executable"]).resolve() == Path(primary.binary.path).resolve()
        sentinel = SentinelProcess.start(tmp_path, primary.port, quorum=1)
        info = server_info(sentinel.port)
        assert info.get("server_mode", info.get("redis_mode")) == "sentinel"  # Valkey renamed the field
        assert named_server(info) == primary.binary.version
        assert Path(info["executable"]).resolve() == Path(primary.binary.path).resolve()
        assert sentinel.primary_port() == primary.port
    finally:
        if sentinel is not None:
            sentinel.stop()
        primary.stop()


def test_an_unknown_server_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_VARIABLE, "keydb")
    with pytest.raises(ServerStartError, match="REDIS_SERVER='keydb' is not a known server"):
        RedisServer.start(tmp_path)
    assert list(tmp_path.iterdir()) == []
