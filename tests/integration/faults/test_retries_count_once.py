"""A retried write counts once, whatever happened to the first try (pytest -m faults).

The updater recognises an event it already applied to a board, so a game server may retry after
any answer: a 503 whose record the broker stored anyway, a POST accepted while Redis was away, an
ingest process that died after the broker had the record. Each case compares the board with the
truth computed from the distinct events.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from local_runtime.stack import REPO_ROOT, RunningStack
from shared.adapters.keys import submission_key
from tests.support.direct_reads import topic_values
from tests.support.faults import Workload, assert_board_matches, stack_of_its_own, wait_until_consumed
from tests.support.http_api import Api
from tests.support.paths import EVENTS_DIR

pytestmark = pytest.mark.faults

INGEST_FUNCTION = "MatchIngestFunction"
SEND_TIMEOUT_SECONDS = 2
MAX_TRIES = 60


@pytest.fixture
def retry_stack(tmp_path: Path) -> Iterator[RunningStack]:
    """A short broker send timeout, so a stall gives 503s fast."""
    with stack_of_its_own(tmp_path, KAFKA_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT_SECONDS)) as running:
        yield running


class Poster:
    """POSTs events, retrying every 503 (and dropped connection) until 202, as a game server would."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.unavailable = 0
        self._lock = threading.Lock()

    def until_accepted(self, body: dict[str, Any]) -> None:
        for _ in range(MAX_TRIES):
            try:
                status, answer = self.api.post("/v1/scores", body)
            except (urllib.error.URLError, OSError):
                status, answer = 0, {}
            if status == 202:
                return
            assert status in (0, 503), f"unexpected answer {status} {answer}"
            with self._lock:
                self.unavailable += 1
            time.sleep(0.2)
        raise AssertionError(f"not accepted after {MAX_TRIES} tries: {body}")

    def all(self, bodies: Sequence[dict[str, Any]], threads: int = 4) -> None:
        def post_each(chunk: Sequence[dict[str, Any]]) -> None:
            for body in chunk:
                self.until_accepted(body)

        workers = [threading.Thread(target=post_each, args=(bodies[index::threads],)) for index in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(600)
            assert not worker.is_alive(), "posting did not finish in time"


def bodies_of(workload: Workload) -> list[dict[str, Any]]:
    return [workload.as_json(event) for event in workload.events]


def test_h_broker_stalled_during_posts_then_every_503_retried(retry_stack: RunningStack) -> None:
    workload = Workload.random(1500, players=100, seed=11, prefix=f"h{uuid.uuid4().hex[:6]}")
    poster = Poster(Api(retry_stack.api_url, retry_stack.api_key))
    assert retry_stack.servers.kafka is not None
    broker_pid = retry_stack.servers.kafka.pid

    def stall_broker() -> None:
        time.sleep(0.5)
        os.kill(broker_pid, signal.SIGSTOP)  # alive, reads nothing: acks arrive after the client gave up
        time.sleep(3 * SEND_TIMEOUT_SECONDS)
        os.kill(broker_pid, signal.SIGCONT)

    staller = threading.Thread(target=stall_broker)
    staller.start()
    try:
        poster.all(bodies_of(workload))
    finally:
        staller.join(30)
    assert poster.unavailable > 0, "the stall must have turned some POSTs into 503s"
    wait_until_consumed(retry_stack)
    assert_board_matches(retry_stack.redis_url, workload)
    stored = topic_values(retry_stack.kafka_bootstrap, retry_stack.topic)
    print(f"\n{poster.unavailable} answers of 503; {len(stored)} records for {len(workload.events)} events")
    assert len(stored) > len(workload.events), "some records were stored although their POST answered 503"


def test_i_redis_stopped_at_ingest_with_duplicate_posts(retry_stack: RunningStack) -> None:
    workload = Workload.random(300, players=50, seed=12, prefix=f"i{uuid.uuid4().hex[:6]}")
    bodies = bodies_of(workload)
    poster = Poster(Api(retry_stack.api_url, retry_stack.api_key))
    redis_server = retry_stack.servers.redis
    assert redis_server is not None

    poster.all(bodies[:100])
    redis_server.stop()
    try:
        # Posted again while the ledger is unreachable: 0..99 were accepted before, 100..199 twice now.
        poster.all(bodies[:200] + bodies[100:200])
    finally:
        redis_server.restart()
    poster.all(bodies[200:] + bodies[150:250])
    stored = topic_values(retry_stack.kafka_bootstrap, retry_stack.topic)
    assert len(stored) > len(workload.events), "duplicates reached Kafka while the ledger was away"
    wait_until_consumed(retry_stack)
    assert_board_matches(retry_stack.redis_url, workload)


def test_j_ingest_killed_between_produce_and_confirm(retry_stack: RunningStack) -> None:
    workload = Workload.random(3, players=3, seed=13, prefix=f"j{uuid.uuid4().hex[:6]}")
    bodies = bodies_of(workload)
    spec = retry_stack.template.function(INGEST_FUNCTION)
    proxy_event = json.loads((EVENTS_DIR / "post_score.json").read_text())
    environ = {**os.environ, **spec.environment, **retry_stack.local_environment}
    for body in bodies:
        proxy_event["body"] = json.dumps(body)
        worker = subprocess.run(
            [sys.executable, "-m", "tests.integration.faults.ingest_worker", str(spec.handler_file)],
            cwd=REPO_ROOT,
            env=environ,
            input=json.dumps(proxy_event),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == -signal.SIGKILL, f"the worker must die after publishing: {worker.stderr[-2000:]}"

    assert len(topic_values(retry_stack.kafka_bootstrap, retry_stack.topic)) == len(bodies), "published, then died"
    ledger = redis.Redis.from_url(retry_stack.redis_url, decode_responses=True)
    try:
        states = [str(ledger.get(submission_key(event.event_id))) for event in workload.events]
    finally:
        ledger.close()
    assert all(state.startswith("pending|") for state in states), states

    api = Api(retry_stack.api_url, retry_stack.api_key)
    for body in bodies:
        status, answer = api.post("/v1/scores", body)
        assert status == 202, f"a retry after the crash is accepted at once, not refused: {answer}"
    wait_until_consumed(retry_stack)
    assert_board_matches(retry_stack.redis_url, workload)
