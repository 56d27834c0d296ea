"""Every win counts exactly once: the fault-injection suite (pytest -m faults).

Each case feeds a workload through real servers while something goes wrong, then compares the
board with the truth computed from the accepted events: nothing lost, nothing counted twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from local_runtime.kafka_event import lambda_kafka_event
from local_runtime.lambda_host import LambdaContext, environment_overlay, load_handler
from local_runtime.servers import LocalServers
from local_runtime.stack import REPO_ROOT, RunningStack
from shared.adapters.keys import applied_offsets_key
from shared.domain.boards import Window
from tests.support.direct_reads import topic_end_offsets
from tests.support.faults import (
    Pacer,
    Workload,
    assert_board_matches,
    dead_letters,
    event_payloads,
    fault_environ,
    produce,
    second_trigger,
)
from tests.support.http_api import Api
from tests.support.local_stack import fresh_name, own_servers_environ
from tests.support.waiting import wait_for

pytestmark = pytest.mark.faults


@pytest.fixture
def bare_servers(tmp_path: Path) -> Iterator[LocalServers]:
    with LocalServers(tmp_path / "servers", own_servers_environ()) as servers:
        yield servers


def servers_environ(servers: LocalServers, **extra: str) -> dict[str, str]:
    return fault_environ(
        REDIS_URL=servers.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
        **extra,
    )


def watermark_total(redis_url: str) -> int:
    """Records applied, by the all-time board's watermarks: every record of the workload counts there."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        marks: dict[str, str] = client.hgetall(applied_offsets_key(Window.ALLTIME.parse_period("all")))  # type: ignore[assignment]
        return sum(int(offset) + 1 for name, offset in marks.items() if not name.endswith("@ts"))
    finally:
        client.close()


def committed_total(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
        return sum(meta.offset for meta in offsets.values() if meta.offset > 0)
    finally:
        admin.close()


def start_worker(servers: LocalServers, topic: str, group: str, dlq: str, die_after: int = 0) -> subprocess.Popen[str]:
    env = servers_environ(servers, WORKER_TOPIC=topic, WORKER_GROUP=group, WORKER_DLQ=dlq)
    if die_after:
        env["DIE_AFTER_BATCHES"] = str(die_after)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.faults.updater_worker"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    line = worker.stdout.readline()
    assert line.strip() == "ready", f"worker did not start: {line!r}"
    return worker


def test_a_updater_killed_between_redis_writes_and_commit(bare_servers: LocalServers) -> None:
    topic, group, dlq = fresh_name("scores"), fresh_name("updater"), fresh_name("dlq")
    assert bare_servers.kafka is not None
    bare_servers.kafka.create_topic(topic, 4)
    workload = Workload.random(6000, players=500, seed=1)
    produce(bare_servers.kafka_bootstrap, topic, event_payloads(workload.events))

    doomed = start_worker(bare_servers, topic, group, dlq, die_after=3)
    assert doomed.wait(timeout=120) == -signal.SIGKILL
    applied, committed = (
        watermark_total(bare_servers.redis_url),
        committed_total(bare_servers.kafka_bootstrap, group),
    )
    assert applied > committed, "the kill must leave applied-but-uncommitted records to be redelivered"

    survivor = start_worker(bare_servers, topic, group, dlq)
    try:
        assert_board_matches(bare_servers.redis_url, workload)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=60)


def consumed_batch(bootstrap: str, topic: str, expected: int) -> Any:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        batch: dict[TopicPartition, list[Any]] = {}
        for record in consumer:
            batch.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
            if sum(len(records) for records in batch.values()) == expected:
                break
        return batch
    finally:
        consumer.close()


def test_b_the_same_batch_delivered_twice_and_concurrently(bare_servers: LocalServers) -> None:
    topic = fresh_name("scores")
    assert bare_servers.kafka is not None
    bare_servers.kafka.create_topic(topic, 4)
    workload = Workload.random(4000, players=300, seed=2)
    produce(bare_servers.kafka_bootstrap, topic, event_payloads(workload.events))
    batch = consumed_batch(bare_servers.kafka_bootstrap, topic, len(workload.events))
    event = lambda_kafka_event(batch, "arn:aws:kafka:local", bare_servers.kafka_bootstrap)

    env = servers_environ(bare_servers, POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")
    with environment_overlay(env):
        containers = [load_handler(REPO_ROOT / "functions/score_updater/app.py", repo_root=REPO_ROOT) for _ in range(4)]
    assert containers[0](event, LambdaContext("updater")) == {"batchItemFailures": []}
    assert containers[1](event, LambdaContext("updater")) == {"batchItemFailures": []}
    answers: list[Any] = []
    threads = [
        threading.Thread(target=lambda h=handler: answers.append(h(event, LambdaContext("updater"))))
        for handler in containers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [{"batchItemFailures": []}] * 4
    assert_board_matches(bare_servers.redis_url, workload, timeout=5)


def test_c_redis_restarted_mid_stream(fault_stack: RunningStack) -> None:
    workload = Workload.random(8000, players=400, seed=3)
    pacer = Pacer(fault_stack.kafka_bootstrap, fault_stack.topic, event_payloads(workload.events), per_second=1000)
    pacer.start()
    total = len(workload.events)
    wait_for(lambda: watermark_total(fault_stack.redis_url) >= total // 10, what="a tenth of the workload applied")
    assert fault_stack.servers.redis is not None
    applied = watermark_total(fault_stack.redis_url)
    produced = sum(topic_end_offsets(fault_stack.kafka_bootstrap, fault_stack.topic).values())
    fault_stack.servers.redis.restart()
    assert pacer.is_alive(), "the producer must still be sending when Redis restarts"
    assert 0 < applied < produced < total, f"the restart must hit work in flight: {applied=} {produced=} {total=}"
    pacer.finish()
    assert_board_matches(fault_stack.redis_url, workload)


def test_d_redis_unreachable_for_ten_seconds_under_load(fault_stack: RunningStack) -> None:
    workload = Workload.random(10_000, players=1000, seed=4)
    pacer = Pacer(fault_stack.kafka_bootstrap, fault_stack.topic, event_payloads(workload.events), per_second=500)
    pacer.start()
    time.sleep(4)
    assert fault_stack.servers.redis is not None
    redis_pid = fault_stack.servers.redis.pid
    failures_before = fault_stack.trigger.counters.failures
    os.kill(redis_pid, signal.SIGSTOP)  # the process is alive but answers nothing, as behind a partition
    try:
        time.sleep(10)
    finally:
        os.kill(redis_pid, signal.SIGCONT)
    back = time.monotonic()
    pacer.finish()
    assert fault_stack.trigger.counters.failures > failures_before, "batches failed while Redis was away"
    assert_board_matches(fault_stack.redis_url, workload)
    print(f"\nbacklog drained {time.monotonic() - back:.1f} s after Redis answered again")


def test_e_poison_records_go_to_the_dead_letter_queue(fault_stack: RunningStack) -> None:
    workload = Workload.random(20_000, players=2000, seed=5)
    good = event_payloads(workload.events)
    poison_values = [b"\x00garbage", b'{"v": 99}', b'{"v": 1, "user_id": ""}', b"[]", b'{"v":1,"points":"ten"}']
    mixed: list[tuple[bytes, bytes]] = []
    poison_indexes: set[int] = set()
    for index, payload in enumerate(good):
        mixed.append(payload)
        if index % 100 == 50:
            poison_indexes.add(len(mixed))
            mixed.append((payload[0], poison_values[index % len(poison_values)]))
    positions = produce(fault_stack.kafka_bootstrap, fault_stack.topic, mixed)
    expected_poison = {positions[i] for i in poison_indexes}
    assert len(expected_poison) == 200

    assert_board_matches(fault_stack.redis_url, workload)
    letters: list[dict[str, Any]] = []

    def all_poison_dead_lettered() -> bool:
        letters.extend(dead_letters(fault_stack))
        return len(letters) >= len(expected_poison)

    wait_for(all_poison_dead_lettered, what="the poison records in the dead-letter queue")
    time.sleep(1)
    letters.extend(dead_letters(fault_stack))
    assert {(letter["partition"], letter["offset"]) for letter in letters} == expected_poison
    assert len(letters) == 200, "each poison record is dead-lettered exactly once"
    assert all(letter["reason"] and letter["value"] is not None for letter in letters)


def test_f_a_consumer_joins_and_leaves_mid_stream(fault_stack: RunningStack) -> None:
    workload = Workload.random(12_000, players=800, seed=6)
    pacer = Pacer(fault_stack.kafka_bootstrap, fault_stack.topic, event_payloads(workload.events), per_second=1000)
    pacer.start()
    time.sleep(2)
    newcomer = second_trigger(fault_stack).start()
    try:
        newcomer.wait_until_assigned(30)
        time.sleep(3)
    finally:
        newcomer.stop()
    pacer.finish()
    assert newcomer.counters.batches > 0, "the second consumer took part"
    assert_board_matches(fault_stack.redis_url, workload)


def test_g_duplicate_posts_concurrent_and_after_client_timeouts(fault_stack: RunningStack) -> None:
    api = Api(fault_stack.api_url, fault_stack.api_key)
    workload = Workload.random(1500, players=200, seed=7, prefix=f"g{uuid.uuid4().hex[:6]}")
    bodies = [workload.as_json(event) for event in workload.events]
    plan: list[tuple[str, dict[str, Any]]] = [("once", body) for body in bodies]
    for index, body in enumerate(bodies[:150]):
        plan.append((("again", "concurrent", "timeout")[index % 3], body))

    statuses: list[int] = []
    lock = threading.Lock()

    def post_until_settled(body: dict[str, Any]) -> None:
        status, _ = api.post("/v1/scores", body)
        with lock:
            statuses.append(status)

    def abandon_then_retry(body: dict[str, Any]) -> None:
        request = urllib.request.Request(
            f"{api.url}/v1/scores",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "x-api-key": api.api_key},
        )
        with contextlib.suppress(OSError):  # the client gives up; the server may still accept the score
            urllib.request.urlopen(request, timeout=0.001).close()
        post_until_settled(body)

    def run(kind: str, body: dict[str, Any]) -> None:
        if kind == "concurrent":
            pair = [threading.Thread(target=post_until_settled, args=(body,)) for _ in range(2)]
            for thread in pair:
                thread.start()
            for thread in pair:
                thread.join(60)
        elif kind == "timeout":
            abandon_then_retry(body)
        else:
            post_until_settled(body)

    chunks = [plan[i::4] for i in range(4)]

    def run_chunk(chunk: list[tuple[str, dict[str, Any]]]) -> None:
        for kind, body in chunk:
            run(kind, body)

    workers = [threading.Thread(target=run_chunk, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert set(statuses) == {202}
    assert_board_matches(fault_stack.redis_url, workload)
