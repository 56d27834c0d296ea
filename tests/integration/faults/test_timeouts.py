"""With Kafka and Redis stalled (SIGSTOP), each function still answers 503 inside its Timeout.

The stack runs the template's own timeouts and client settings; the local host enforces the
Timeout as Lambda does, so an answer that came too late would be a 502 `function_timeout`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from local_runtime.stack import RunningStack
from shared.adapters.settings import Settings
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.past_months import Month

pytestmark = pytest.mark.faults

# The template decides these; a caller's environment must not loosen them for this test.
TIMING_VARIABLES = ("KAFKA_SEND_TIMEOUT_SECONDS", "REDIS_SOCKET_TIMEOUT_SECONDS", "REDIS_RETRIES")


@pytest.fixture
def template_timed_stack(tmp_path: Path) -> Iterator[RunningStack]:
    environ = {name: value for name, value in own_servers_environ().items() if name not in TIMING_VARIABLES}
    running = start_stack(environ, tmp_path)
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def stalled(pid: int) -> Iterator[None]:
    """The process stops answering (its sockets stay open), as a hung broker or server would."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def timed(call: object) -> tuple[float, tuple[int, dict[str, object]]]:
    started = time.monotonic()
    answer = call()  # type: ignore[operator]
    return time.monotonic() - started, answer


def test_writes_and_reads_answer_503_within_their_timeout_when_kafka_and_redis_stall(
    template_timed_stack: RunningStack, month: Month, record_property: Callable[[str, object], None]
) -> None:
    stack = template_timed_stack
    api = Api(stack.api_url, stack.api_key)
    ingest = stack.template.function("MatchIngestFunction")
    query = stack.template.function("LeaderboardQueryFunction")
    assert stack.functions["MatchIngestFunction"].timeout_seconds == ingest.timeout_seconds
    event = {"match_id": "m-1", "user_id": "u-1", "occurred_at": month.at(1)}
    assert api.post("/v1/scores", event)[0] == 202  # a warm producer and ledger connection, as in production
    assert stack.servers.kafka is not None and stack.servers.redis is not None

    with ExitStack() as faults:
        faults.enter_context(stalled(stack.servers.kafka.pid))
        faults.enter_context(stalled(stack.servers.redis.pid))
        write_seconds, (status, answer) = timed(lambda: api.post("/v1/scores", {**event, "match_id": "m-2"}))
        assert (status, answer["error"]["code"]) == (503, "kafka_unavailable")  # type: ignore[index]
        read_seconds, (status, answer) = timed(lambda: api.get(f"/v1/leaderboards/monthly/top?period={month.period}"))
        assert (status, answer["error"]["code"]) == (503, "redis_unavailable")  # type: ignore[index]

    record_property("write_503_seconds", round(write_seconds, 2))
    record_property("read_503_seconds", round(read_seconds, 2))
    record_property("write_budget_seconds", Settings.from_env(ingest.environment).request_budget_seconds(writes=True))
    record_property("read_budget_seconds", Settings.from_env(query.environment).request_budget_seconds(writes=False))
    assert api.post("/v1/scores", {**event, "match_id": "m-3"})[0] == 202, "writes recover once Kafka answers again"


def test_a_write_answers_503_within_its_timeout_when_only_kafka_stalls(
    template_timed_stack: RunningStack, month: Month
) -> None:
    stack = template_timed_stack
    api = Api(stack.api_url, stack.api_key)
    event = {"match_id": "k-1", "user_id": "u-2", "occurred_at": month.at(1)}
    assert api.post("/v1/scores", event)[0] == 202
    assert stack.servers.kafka is not None
    with stalled(stack.servers.kafka.pid):
        status, answer = api.post("/v1/scores", {**event, "match_id": "k-2"})
    assert (status, answer["error"]["code"]) == (503, "kafka_unavailable")
    # The claim was released after the failed publish: the game server's retry goes through.
    assert api.post("/v1/scores", {**event, "match_id": "k-2"})[0] == 202
