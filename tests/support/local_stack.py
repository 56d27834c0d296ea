"""Stacks for integration tests: the whole local service on servers of its own or on shared ones."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from local_runtime.servers import LocalServers
from local_runtime.stack import LocalStack, RunningStack
from shared.domain.boards import MAX_GRACE_MS

SERVER_VARIABLES = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL", "LOCALSTACK_HOST")
# Tests write to past months (tests.support.past_months), whose boards would be closed to late events
# with the default graces: every window's grace is set to the longest allowed.
HISTORY_GRACE_SECONDS = MAX_GRACE_MS // 1000
GRACE_VARIABLES = (
    "LATE_EVENT_GRACE_SECONDS",
    "LATE_EVENT_GRACE_DAILY_SECONDS",
    "LATE_EVENT_GRACE_WEEKLY_SECONDS",
    "LATE_EVENT_GRACE_MONTHLY_SECONDS",
)
# Daily and weekly boards whose past days stay writable (no retention) and have closed to late events
# (the default graces): what the archive and rebuild tests run on.
PAST_DAYS_CLOSED = {
    "LEADERBOARD_WINDOWS": "daily,weekly",
    "BOARD_RETENTION_DAILY_DAYS": "0",
    "BOARD_RETENTION_WEEKLY_DAYS": "0",
    **dict.fromkeys(GRACE_VARIABLES, ""),
}


def own_servers_environ(**extra: str) -> dict[str, str]:
    """os.environ without the variables that would point a stack at someone else's servers.

    Late events are accepted for the longest grace allowed unless the environment or `extra` says otherwise.
    """
    environ = {name: value for name, value in os.environ.items() if name not in SERVER_VARIABLES}
    for name in GRACE_VARIABLES:
        environ.setdefault(name, str(HISTORY_GRACE_SECONDS))
    environ.update(extra)
    return environ


def servers_environ(servers: LocalServers, *, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """own_servers_environ pointed at `servers` (Redis: `redis_url` if given)."""
    return own_servers_environ(
        REDIS_URL=redis_url or servers.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
        **extra,
    )


@contextmanager
def redis_client_of(stack: RunningStack) -> Iterator[redis.Redis]:
    """A client of the stack's Redis that answers strings."""
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


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


def start_stack_on(servers: LocalServers, workdir: Path, *, redis_url: str | None = None) -> RunningStack:
    """The whole local service on running servers (Redis: `redis_url` if given), with its own topic,
    consumer group and dead-letter queue."""
    return start_stack(servers_environ(servers, redis_url=redis_url), workdir)
