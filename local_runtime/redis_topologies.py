"""Redis that fails over, on loopback: a Sentinel group and a Redis Cluster, for tests and benchmarks.

    with SentinelGroup.start(workdir) as group:     # a primary, one replica, three sentinels
        client = create_redis_client(group.url)    # redis+sentinel://h:p,h:p,h:p/leaderboard
        killed = group.kill_primary()              # SIGKILL, as in a crash
        group.wait_for_failover(killed)            # the sentinels promoted the replica
        group.bring_back(killed)                   # restarted; it rejoins as a replica

`RedisClusterNodes` is the same for three primaries with one replica each; its `kill_primary(key)`
kills the primary owning that key's slot. `StandaloneRedis` is one server behind the same
`url`/`stop` surface, so a test can be parametrized over all three. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

from local_runtime.polling import poll_until
from local_runtime.processes import ChildProcess, ServerStartError, free_port, redis_binary_environ
from local_runtime.redis_binaries import server_binary
from local_runtime.servers import LOOPBACK, RedisServer, _start_on_some_port

SENTINEL_SERVICE = "leaderboard"
DOWN_AFTER_MS = 1000  # how long a primary must be silent before it is declared down
FAILOVER_TIMEOUT_MS = 5000
CLUSTER_NODE_TIMEOUT_MS = 1000
# Redis 7 waits 5 s before a diskless full sync in case more replicas come along: not useful here.
REPLICATION_ARGS = ("--repl-diskless-sync-delay", "0")
_POLL_SECONDS = 0.05


class RedisTopology(Protocol):
    @property
    def url(self) -> str: ...

    def stop(self) -> None: ...


class FailoverTopology(RedisTopology, Protocol):
    def primary_port(self, key: str = "") -> int: ...

    def kill_primary(self, key: str = "") -> int: ...

    def wait_for_failover(self, killed_port: int, timeout: float = 30.0) -> int: ...

    def bring_back(self, port: int, timeout: float = 30.0) -> None: ...


def _client(port: int) -> redis.Redis:
    return redis.Redis(
        host=LOOPBACK,
        port=port,
        socket_timeout=1,
        socket_connect_timeout=1,
        retry=Retry(NoBackoff(), 0),  # a dead node is an answer here, not something to wait out
        decode_responses=True,
    )


def _ask(port: int, *command: Any) -> Any:
    """One command to one server; None when it does not answer."""
    client = _client(port)
    try:
        return client.execute_command(*command)  # type: ignore[no-untyped-call]
    except redis.RedisError:
        return None
    finally:
        client.close()


def _replication(port: int) -> dict[str, str]:
    reply = _ask(port, "INFO", "replication")
    return {str(key): str(value) for key, value in reply.items()} if isinstance(reply, dict) else {}


def _wait(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    return poll_until(condition, timeout=timeout, what=what, interval=_POLL_SECONDS)


def _is_replica_of(port: int, primary: int) -> bool:
    info = _replication(port)
    return (
        info.get("role") == "slave"
        and info.get("master_port") == str(primary)
        and info.get("master_link_status") == "up"
    )


class _Stoppable:
    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class StandaloneRedis(_Stoppable):
    def __init__(self, server: RedisServer) -> None:
        self.server = server

    @classmethod
    def start(cls, workdir: Path) -> StandaloneRedis:
        return cls(RedisServer.start(workdir))

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()


class SentinelProcess:
    """`<server> <conf> --sentinel` (valkey-server or redis-server): Sentinel needs a config file of its
    own that it can rewrite."""

    def __init__(self, workdir: Path, port: int, primary_port: int, quorum: int) -> None:
        self.port = port
        directory = workdir / f"sentinel-{port}"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"
        config.write_text(
            "\n".join(
                [
                    f"port {port}",
                    f"bind {LOOPBACK}",
                    "daemonize no",
                    f"dir {directory}",
                    f"sentinel monitor {SENTINEL_SERVICE} {LOOPBACK} {primary_port} {quorum}",
                    f"sentinel down-after-milliseconds {SENTINEL_SERVICE} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {SENTINEL_SERVICE} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {SENTINEL_SERVICE} 1",
                    "",
                ]
            )
        )
        self._process = ChildProcess(
            f"sentinel:{port}",
            server_binary().sentinel_argv(config),
            directory / "sentinel.log",
            cwd=directory,
            env=redis_binary_environ(),
        )

    @classmethod
    def start(cls, workdir: Path, primary_port: int, quorum: int) -> SentinelProcess:
        def start_on(port: int) -> SentinelProcess:
            sentinel = cls(workdir, port, primary_port, quorum)
            sentinel._process.start()
            sentinel._process.wait_until(lambda: _ask(port, "PING") is True, timeout=20, what="answering PING")
            return sentinel

        return _start_on_some_port(start_on, None)

    def primary_port(self) -> int | None:
        reply = _ask(self.port, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SENTINEL_SERVICE)
        return int(reply[1]) if reply else None

    def knows(self, *, sentinels: int, replicas: int) -> bool:
        """Whether this sentinel sees `sentinels` other sentinels and `replicas` healthy replicas."""
        others = _ask(self.port, "SENTINEL", "SENTINELS", SENTINEL_SERVICE) or []
        seen = _ask(self.port, "SENTINEL", "REPLICAS", SENTINEL_SERVICE) or []
        healthy = [entry for entry in seen if "s_down" not in _flags(entry) and "disconnected" not in _flags(entry)]
        return len(others) >= sentinels and len(healthy) >= replicas

    def stop(self) -> None:
        self._process.stop()


def _flags(entry: Any) -> str:
    """The `flags` field of one SENTINEL REPLICAS entry (a dict or a flat name/value list)."""
    if isinstance(entry, dict):
        return str(entry.get("flags", ""))
    fields = list(entry)
    return str(dict(zip(fields[::2], fields[1::2], strict=False)).get("flags", ""))


class SentinelGroup(_Stoppable):
    """A primary, its replicas and three sentinels (quorum 2) monitoring them as `SENTINEL_SERVICE`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.nodes: dict[int, RedisServer] = {}
        self.sentinels: list[SentinelProcess] = []

    @classmethod
    def start(cls, workdir: Path, *, replicas: int = 1, sentinels: int = 3, timeout: float = 30.0) -> SentinelGroup:
        group = cls(Path(workdir))
        try:
            primary = RedisServer.start(group.workdir, args=REPLICATION_ARGS)
            group.nodes[primary.port] = primary
            for _ in range(replicas):
                replica_args = [*REPLICATION_ARGS, "--replicaof", LOOPBACK, str(primary.port)]
                replica = RedisServer.start(group.workdir, args=replica_args)
                group.nodes[replica.port] = replica
            _wait(
                lambda: all(_is_replica_of(port, primary.port) for port in group.nodes if port != primary.port),
                timeout=timeout,
                what="the replicas to sync",
            )
            quorum = sentinels // 2 + 1
            group.sentinels = [SentinelProcess.start(group.workdir, primary.port, quorum) for _ in range(sentinels)]
            _wait(
                lambda: all(s.knows(sentinels=sentinels - 1, replicas=replicas) for s in group.sentinels),
                timeout=timeout,
                what="the sentinels to find each other and the replicas",
            )
        except BaseException:
            group.stop()
            raise
        return group

    @property
    def url(self) -> str:
        hosts = ",".join(f"{LOOPBACK}:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{SENTINEL_SERVICE}"

    def primary_port(self, key: str = "") -> int:
        """The primary the sentinels name now (every key lives there)."""
        answers = [port for port in (s.primary_port() for s in self.sentinels) if port is not None]
        if not answers:
            raise RuntimeError("no sentinel answered")
        return max(set(answers), key=answers.count)

    def kill_primary(self, key: str = "") -> int:
        port = self.primary_port()
        self.nodes[port].kill()
        return port

    def wait_for_failover(self, killed_port: int, timeout: float = 30.0) -> int:
        """Block until the sentinels name a new primary that also says it is one; return its port."""

        def promoted() -> int | None:
            answers = {s.primary_port() for s in self.sentinels}
            if len(answers) != 1:
                return None
            port = answers.pop()
            if port is None or port == killed_port or _replication(port).get("role") != "master":
                return None
            return port

        port: int = _wait(promoted, timeout=timeout, what=f"the sentinels to replace primary {killed_port}")
        return port

    def bring_back(self, port: int, timeout: float = 30.0) -> None:
        """Restart a killed node as a replica of the primary the sentinels name (a supervisor's job).

        Left to restart as a primary, the sentinels would demote it too, but only after their next
        10-second INFO round.
        """
        primary = self.primary_port()
        self.nodes[port].stop()
        args = [*REPLICATION_ARGS, "--replicaof", LOOPBACK, str(primary)]
        self.nodes[port] = RedisServer.start(self.workdir, port=port, args=args)
        _wait(lambda: _is_replica_of(port, primary), timeout=timeout, what=f"{port} to replicate {primary}")

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in self.nodes.values():
            node.stop()


CLUSTER_BUS_OFFSET = 10000  # each node also listens on its port + 10000 for the cluster bus


def _cluster_node_port() -> int:
    """A free port whose bus port is valid (Redis refuses ports above 55535 in cluster mode) and free."""
    for _ in range(200):
        port = free_port()
        if port + CLUSTER_BUS_OFFSET <= 65535 and _bindable(port + CLUSTER_BUS_OFFSET):
            return port
    raise ServerStartError("found no free port pair (port, port + 10000) for a cluster node")


def _start_cluster_node(workdir: Path, args: list[str]) -> RedisServer:
    attempts = 3  # another process may take the port between the check and the start
    for attempt in range(1, attempts + 1):
        try:
            return RedisServer.start(workdir, port=_cluster_node_port(), args=args)
        except ServerStartError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


class RedisClusterNodes(_Stoppable):
    """A Redis Cluster of `primaries` primaries with `replicas_each` replicas each, made by redis-cli."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.nodes: dict[int, RedisServer] = {}
        self._slots_held: dict[int, list[tuple[int, int]]] = {}  # by a primary when it was killed

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        primaries: int = 3,
        replicas_each: int = 1,
        timeout: float = 60.0,
        node_timeout_ms: int = CLUSTER_NODE_TIMEOUT_MS,
    ) -> RedisClusterNodes:
        if shutil.which("redis-cli") is None:
            raise ServerStartError("redis-cli is not on PATH; it comes with redis-server: apt-get install redis-server")
        cluster = cls(Path(workdir))
        args = [
            *REPLICATION_ARGS,
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",  # in the node's own data dir: a restart keeps its identity
            "--cluster-node-timeout", str(node_timeout_ms),
        ]  # fmt: skip
        try:
            for _ in range(primaries * (1 + replicas_each)):
                node = _start_cluster_node(cluster.workdir, args)
                cluster.nodes[node.port] = node
            command = [
                "redis-cli", "--cluster", "create",
                *(f"{LOOPBACK}:{port}" for port in cluster.nodes),
                "--cluster-replicas", str(replicas_each),
                "--cluster-yes",
            ]  # fmt: skip
            create = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=redis_binary_environ(),
            )
            if create.returncode != 0:
                raise ServerStartError(f"redis-cli --cluster create failed:\n{create.stdout}{create.stderr}")
            _wait(cluster._healthy, timeout=timeout, what="the cluster to agree and its replicas to sync")
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{LOOPBACK}:{port}" for port in self.nodes)

    def _live_ports(self) -> list[int]:
        return [port for port in self.nodes if _ask(port, "PING") is True]

    def _healthy(self) -> bool:
        live = self._live_ports()
        for port in live:
            info = _ask(port, "CLUSTER", "INFO") or ""
            if "cluster_state:ok" not in info or f"cluster_known_nodes:{len(self.nodes)}" not in info:
                return False
            replication = _replication(port)
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                return False
        return bool(live)

    def _slot_ranges(self, *, excluding: int | None = None) -> list[tuple[int, int, int]]:
        """(first slot, last slot, primary port) as the first live node (other than `excluding`) reports them."""
        for port in self._live_ports():
            if port == excluding:
                continue
            reply = _ask(port, "CLUSTER", "SLOTS")
            if reply:
                return [(int(first), int(last), int(primary[1])) for first, last, primary, *_ in reply]
        return []

    def primary_port(self, key: str = "") -> int:
        slot = key_slot(key.encode())
        for first, last, primary in self._slot_ranges():
            if first <= slot <= last:
                return primary
        raise RuntimeError(f"no live cluster node reports an owner of slot {slot}")

    def kill_primary(self, key: str = "") -> int:
        port = self.primary_port(key)
        self._slots_held[port] = [(first, last) for first, last, owner in self._slot_ranges() if owner == port]
        self.nodes[port].kill()
        return port

    def wait_for_failover(self, killed_port: int, timeout: float = 30.0) -> int:
        """Block until one replica took over every slot `killed_port` held and the cluster is ok again."""
        lost = self._slots_held[killed_port]

        def promoted() -> int | None:
            ranges = self._slot_ranges(excluding=killed_port)
            owners = {primary for first, last, primary in ranges if (first, last) in lost}
            if len(owners) != 1 or killed_port in owners or not self._healthy():
                return None
            return owners.pop()

        port: int = _wait(promoted, timeout=timeout, what=f"a replica to take over from {killed_port}")
        return port

    def bring_back(self, port: int, timeout: float = 30.0) -> None:
        """Restart a killed node; with its nodes.conf it rejoins as a replica of whoever took its slots."""
        self.nodes[port].restart()
        _wait(
            lambda: _replication(port).get("role") == "slave" and self._healthy(),
            timeout=timeout,
            what=f"{port} to rejoin as a replica",
        )

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()


@contextlib.contextmanager
def running_topology(name: str, workdir: Path) -> Iterator[RedisTopology]:
    """`standalone`, `sentinel` or `cluster`, started in `workdir` and stopped on exit."""
    starters: dict[str, Callable[[Path], RedisTopology]] = {
        "standalone": StandaloneRedis.start,
        "sentinel": SentinelGroup.start,
        "cluster": RedisClusterNodes.start,
    }
    if name not in starters:
        raise ValueError(f"unknown Redis topology {name!r}; expected one of {sorted(starters)}")
    topology = starters[name](Path(workdir))
    try:
        yield topology
    finally:
        topology.stop()
