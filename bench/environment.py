"""The servers a bench run uses, and the handlers loaded in-process against them.

One Redis server (valkey-server or redis-server: `REDIS_SERVER`, or the binary a measurement
names), one Tansu broker and one moto server are started on free loopback ports for the whole
run (never the machine's own Redis). Handlers get the environment the template gives
their function, with the local endpoints put in, as `python -m local_runtime run` does.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import redis

from local_runtime.lambda_host import LambdaContext, environment_overlay, load_handler
from local_runtime.redis_binaries import ServerBinary
from local_runtime.servers import KafkaBroker, MotoServer, RedisServer
from local_runtime.template import load_template

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
PARTITIONS = 4  # the template's ScoreTopicPartitions default

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LoadedFunction:
    name: str
    handler: Handler
    timeout_seconds: float

    def context(self) -> LambdaContext:
        return LambdaContext(self.name, timeout_seconds=self.timeout_seconds)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.handler(event, self.context())


class BenchServers:
    def __init__(self, workdir: Path, redis_server: RedisServer, kafka: KafkaBroker, moto: MotoServer) -> None:
        self.workdir = workdir
        self.redis = redis_server
        self.kafka = kafka
        self.moto = moto
        self.dlq_url = ""

    @classmethod
    def start(cls, workdir: Path | None = None, *, binary: ServerBinary | None = None) -> BenchServers:
        workdir = workdir or Path(tempfile.mkdtemp(prefix="leaderboard-bench-"))
        started: list[Any] = []
        try:
            redis_server = RedisServer.start(workdir, binary=binary)
            started.append(redis_server)
            kafka = KafkaBroker.start(workdir)
            started.append(kafka)
            moto = MotoServer.start(workdir)
            started.append(moto)
        except BaseException:
            for server in reversed(started):
                server.stop()
            raise
        servers = cls(workdir, redis_server, kafka, moto)
        servers.dlq_url = servers._create_dlq()
        return servers

    def stop(self, *, keep_logs: bool = False) -> None:
        for server in (self.moto, self.kafka, self.redis):
            server.stop()
        if not keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def redis_client(self) -> redis.Redis:
        return redis.Redis(host=self.redis.host, port=self.redis.port, socket_timeout=120)

    def redis_version(self) -> str:
        """`valkey 9.1.2` or `redis 7.0.15`: the server binary and its version."""
        return self.redis.binary.version

    def aws_environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.moto.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }

    def stack_environ(self) -> dict[str, str]:
        """An environment in which local_runtime.LocalStack uses these servers instead of starting its own."""
        return {
            **os.environ,
            **self.aws_environment(),
            "REDIS_URL": self.redis.url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
        }

    def function_environment(
        self, logical_id: str, topic: str, overrides: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The environment the template gives a function, pointed at these servers; quiet like `make run`."""
        template = load_template(TEMPLATE, {"ScoreTopic": topic}, region=REGION)
        return {
            **template.function(logical_id).environment,
            **self.aws_environment(),
            "REDIS_URL": self.redis.url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            "KAFKA_TOPIC": topic,
            "DEAD_LETTER_QUEUE_URL": self.dlq_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            **(overrides or {}),
        }

    def load_function(self, logical_id: str, topic: str, overrides: Mapping[str, str] | None = None) -> LoadedFunction:
        """Import a handler with its template environment (and `overrides`) pointed at these servers."""
        spec = load_template(TEMPLATE, {"ScoreTopic": topic}, region=REGION).function(logical_id)
        environment = self.function_environment(logical_id, topic, overrides)
        # Module-scope settings are read at import; the metrics/tracer switches are also read per call.
        os.environ.update({k: environment[k] for k in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED")})
        with environment_overlay(environment):
            handler = load_handler(spec.handler_file, spec.handler_function, repo_root=REPO_ROOT)
        return LoadedFunction(spec.function_name, handler, float(spec.timeout_seconds))

    def _create_dlq(self) -> str:
        sqs = boto3.client(
            "sqs",
            endpoint_url=self.moto.endpoint_url,
            region_name=REGION,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        url: str = sqs.create_queue(QueueName="bench-dlq")["QueueUrl"]
        return url


def quiet_client_logs() -> None:
    """kafka-python logs every closed connection as an error; the bench reports failures itself."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)


LAZYFREE_WAIT_SECONDS = 30.0


def settled_memory(client: redis.Redis) -> dict[str, Any]:
    """INFO memory once the server has no lazily freed objects left to free: Valkey frees a FLUSHALL's
    or a DEL's values in the background by default, and used_memory counts them until then."""
    deadline = time.monotonic() + LAZYFREE_WAIT_SECONDS
    while True:
        info: dict[str, Any] = client.info("memory")  # type: ignore[assignment]
        if int(info.get("lazyfree_pending_objects", 0)) == 0 or time.monotonic() > deadline:
            return info
        time.sleep(0.05)
