"""What a user sees when Kafka or Redis goes away: each test runs a stack on servers of its own."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runtime.stack import RunningStack
from tests.support.direct_reads import board_points
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.past_months import Month
from tests.support.waiting import wait_for


@pytest.fixture
def private_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningStack]:
    monkeypatch.setenv("KAFKA_SEND_TIMEOUT_SECONDS", "2")
    running = start_stack(own_servers_environ(), tmp_path, trigger_settings={"max_backoff_seconds": 1.0})
    try:
        yield running
    finally:
        running.stop()


def test_kafka_down_means_503_and_no_false_acknowledgement(private_stack: RunningStack, month: Month) -> None:
    api = Api(private_stack.api_url, private_stack.api_key)
    event = {"match_id": f"m-{uuid.uuid4().hex[:8]}", "user_id": "u1", "occurred_at": month.at(1)}
    assert api.post("/v1/scores", event)[0] == 202
    assert private_stack.servers.kafka is not None
    private_stack.servers.kafka.kill()

    status, answer = api.post("/v1/scores", {**event, "match_id": "after-the-broker-died"})
    assert (status, answer["error"]["code"]) == (503, "kafka_unavailable")
    status, answer = api.post("/v1/scores/batch", {"scores": [{**event, "match_id": "batch-after"}]})
    assert status == 503
    assert api.get(f"/v1/leaderboards/monthly/top?period={month.period}")[0] == 200, "reads keep working"


def test_redis_down_fails_batches_and_loses_nothing_once_back(private_stack: RunningStack, month: Month) -> None:
    api = Api(private_stack.api_url, private_stack.api_key)
    redis_server = private_stack.servers.redis
    assert redis_server is not None
    redis_server.kill()

    expected: dict[str, int] = {}
    for i in range(30):
        user = f"player-{i % 7}"
        status, _ = api.post(
            "/v1/scores", {"match_id": f"m{i}", "user_id": user, "points": i + 1, "occurred_at": month.at(i)}
        )
        assert status == 202, "ingest keeps accepting: Kafka holds the wins while Redis is away"
        expected[user] = expected.get(user, 0) + i + 1

    status, answer = api.get(f"/v1/leaderboards/monthly/top?period={month.period}")
    assert (status, answer["error"]["code"]) == (503, "redis_unavailable")
    wait_for(lambda: private_stack.trigger.counters.failures >= 2, what="the updater to fail batches")
    time.sleep(1)

    redis_server.restart()
    wait_for(lambda: board_points(private_stack.redis_url, month.period) == expected, timeout=60, what="catch-up")
    assert private_stack.trigger.counters.dead_lettered == 0
