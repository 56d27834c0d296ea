"""Real servers for integration tests: redis-server, the Tansu broker and moto, on free loopback ports."""

from __future__ import annotations

import json
import os
import random
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kafka import KafkaConsumer, TopicPartition

from local_runtime.polling import poll_until
from local_runtime.servers import LocalServers
from local_runtime.stack import LocalStack, RunningStack
from shared.adapters.keys import board_key
from shared.adapters.redis_client import create_redis_client
from shared.domain.month_codec import decode_score
from shared.domain.periods import period_start_ms

SERVER_VARIABLES = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL", "LOCALSTACK_HOST")
# Tests write to past months (see `month`), whose boards would be closed to late events with the
# default graces: every window's grace is set to a century.
HISTORY_GRACE_SECONDS = 100 * 366 * 86_400
GRACE_VARIABLES = (
    "LATE_EVENT_GRACE_SECONDS",
    "LATE_EVENT_GRACE_DAILY_SECONDS",
    "LATE_EVENT_GRACE_WEEKLY_SECONDS",
    "LATE_EVENT_GRACE_MONTHLY_SECONDS",
)
T = TypeVar("T")


def own_servers_environ(**extra: str) -> dict[str, str]:
    """os.environ without the variables that would point a stack at someone else's servers.

    Late events are accepted for a century unless the environment or `extra` says otherwise.
    """
    environ = {name: value for name, value in os.environ.items() if name not in SERVER_VARIABLES}
    for name in GRACE_VARIABLES:
        environ.setdefault(name, str(HISTORY_GRACE_SECONDS))
    environ.update(extra)
    return environ


def fresh_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def start_stack(environ: dict[str, str], workdir: Path, **options: Any) -> RunningStack:
    return LocalStack(
        api_port=0,
        topic=fresh_name("scores"),
        consumer_group=fresh_name("updater"),
        dlq_name=fresh_name("dlq"),
        environ=environ,
        workdir=workdir,
        **options,
    ).start()


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServers]:
    with LocalServers(tmp_path_factory.mktemp("servers"), own_servers_environ()) as running:
        yield running


def start_stack_on(servers: LocalServers, workdir: Path, *, redis_url: str | None = None) -> RunningStack:
    """The whole local service on running servers (Redis: `redis_url` if given), with its own topic,
    consumer group and dead-letter queue."""
    environ = own_servers_environ(
        REDIS_URL=redis_url or servers.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
    )
    return start_stack(environ, workdir)


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with start_stack_on(servers, tmp_path_factory.mktemp("stack")) as running:
        yield running


@dataclass(frozen=True)
class Month:
    """A past month no other test writes to, so each test reads a board of its own."""

    period: str
    start_ms: int

    def at(self, seconds: int) -> int:
        return self.start_ms + seconds * 1000


_used_periods: set[str] = set()


@pytest.fixture
def month() -> Month:
    while True:
        period = f"{random.randint(2001, 2020)}-{random.randint(1, 12):02d}"
        if period not in _used_periods:
            _used_periods.add(period)
            return Month(period, period_start_ms(period))


@dataclass
class Api:
    url: str
    api_key: str

    def call(
        self, method: str, path: str, body: object = None, *, key: str | None = "default", raw: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["x-api-key"] = self.api_key if key == "default" else key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def post(self, path: str, body: object, **options: Any) -> tuple[int, dict[str, Any]]:
        return self.call("POST", path, body, **options)

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return self.call("GET", path)


@pytest.fixture
def api(stack: RunningStack) -> Api:
    return Api(stack.api_url, stack.api_key)


def wait_for(condition: Callable[[], T | None], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll until `condition` returns something truthy; fail the test after `timeout` seconds."""
    try:
        return poll_until(condition, timeout=timeout, what=what)
    except TimeoutError as error:
        raise AssertionError(str(error)) from None


def board_points(redis_url: str, period: str) -> dict[str, int]:
    """Everyone's points on a board, read straight from Redis (the ground truth check); any REDIS_URL topology."""
    client = create_redis_client(redis_url, decode_responses=True)
    try:
        members: list[tuple[str, float]] = client.zrange(board_key(period), 0, -1, withscores=True)  # type: ignore[assignment]
        return {member: decode_score(score).points for member, score in members}
    finally:
        client.close()


def topic_values(bootstrap: str, topic: str, *, quiet_seconds: float = 1.5) -> list[dict[str, Any]]:
    """Every record value on the topic, read from the beginning without a consumer group."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=int(quiet_seconds * 1000)
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()
