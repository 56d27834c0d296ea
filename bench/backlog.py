"""Catching up: how long the local MSK trigger + score_updater take to drain a backlog that built
up while the updater was stopped.

The backlog is produced first (kafka-python, large batches, no consumer running), then
`local_runtime.LocalStack` starts the trigger on it. The drain is timed from the moment the
consumer holds its partitions to the moment every offset is applied, read from the board's
applied-offset watermarks in Redis. The floor is reading the same backlog with a bare
kafka-python consumer that does nothing with the records.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field

import redis
from kafka import KafkaConsumer, KafkaProducer

from bench.environment import PARTITIONS, BenchServers
from bench.progress import Progress
from bench.results import Result
from bench.workload import score_record, short_id
from shared.adapters.keys import applied_offsets_key
from shared.domain.boards import Window

PRODUCER_SETTINGS = {"acks": "all", "linger_ms": 50, "batch_size": 1 << 20, "max_request_size": 8 << 20}
POLL_SECONDS = 0.05
MIN_DRAIN_TIMEOUT_SECONDS = 120.0
MIN_DRAIN_RATE = 2_000  # records/s: slower than this and the run gives up (the timeout scales with the backlog)


@dataclass
class BacklogRun:
    results: list[Result] = field(default_factory=list)


def produce_backlog(
    servers: BenchServers, topic: str, records: int, players: int, occurred_at_ms: int, rng: random.Random
) -> float:
    """Produce `records` score records; returns records/s."""
    producer = KafkaProducer(
        bootstrap_servers=[servers.kafka.bootstrap], client_id="bench-backlog", **PRODUCER_SETTINGS
    )
    chunk = 10_000
    started = time.perf_counter()
    try:
        for first in range(0, records, chunk):
            for index in range(first, min(first + chunk, records)):
                record = score_record(
                    f"backlog-{index}", short_id(rng.randrange(players)), rng.randint(1, 100), occurred_at_ms
                )
                producer.send(topic, key=record.key, value=record.value)
        producer.flush(timeout=300)
    finally:
        producer.close(timeout=10)
    return records / (time.perf_counter() - started)


def consume_floor(servers: BenchServers, topic: str, records: int, timeout: float) -> float:
    """Read the whole topic with a bare consumer; returns records/s from the first record on."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=[servers.kafka.bootstrap],
        group_id=f"{topic}-floor",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
        max_poll_records=1000,
    )
    seen = 0
    first_at: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while seen < records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200, max_records=1000).values():
                if first_at is None:
                    first_at = time.perf_counter()
                seen += len(batch)
    finally:
        consumer.close(autocommit=False)
    if seen < records or first_at is None:
        raise RuntimeError(f"the bare consumer read {seen} of {records} records in {timeout:.0f} s")
    return records / (time.perf_counter() - first_at)


def _applied(client: redis.Redis, key: str, topic: str) -> int:
    marks: dict[bytes, bytes] = client.hgetall(key)  # type: ignore[assignment]
    # Fields are "<Kafka cluster>/<topic>-<partition>", each with a "@ts" companion.
    partition = re.compile(rf"(.*/)?{re.escape(topic)}-[0-9]+")
    return sum(int(offset) + 1 for name, offset in marks.items() if partition.fullmatch(name.decode()))


def run(
    servers: BenchServers, records: int, players: int, scale_name: str, progress: Progress, seed: int, *, now_ms: int
) -> BacklogRun:
    from local_runtime.stack import LocalStack

    outcome = BacklogRun()
    rng = random.Random(seed)
    topic = f"bench-backlog-{seed}"
    servers.kafka.create_topic(topic, PARTITIONS)
    occurred_at = now_ms - 1_000
    produce_rate = produce_backlog(servers, topic, records, players, occurred_at, rng)
    progress.step(f"backlog: produced {records:,} records with kafka-python at {produce_rate:,.0f} records/s")
    timeout = max(MIN_DRAIN_TIMEOUT_SECONDS, records / MIN_DRAIN_RATE)
    floor_rate = consume_floor(servers, topic, records, timeout)
    progress.step(f"backlog floor: a bare kafka-python consumer reads it at {floor_rate:,.0f} records/s")

    client = servers.redis_client()
    watermarks = applied_offsets_key(Window.MONTHLY.board_at(occurred_at))
    starting = time.perf_counter()
    stack = LocalStack(
        workdir=servers.workdir / "backlog",
        api_port=0,
        topic=topic,
        consumer_group=f"{topic}-updater",
        environ=servers.stack_environ(),
    ).start()
    try:
        ready = time.perf_counter()
        deadline = time.monotonic() + timeout
        applied = _applied(client, watermarks, topic)
        while applied < records and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            applied = _applied(client, watermarks, topic)
        done = time.perf_counter()
        counters = stack.trigger.counters
        batch_size = stack.template.kafka_trigger_for("ScoreUpdaterFunction").batch_size
    finally:
        stack.stop()
    if applied < records:
        raise RuntimeError(f"the updater applied {applied:,} of {records:,} backlog records in {timeout:.0f} s")
    drain = done - ready
    parameters = {
        "backlog_records": records,
        "full_size_backlog": records >= 1_000_000,
        "scale": scale_name,
        "players": players,
        "partitions": PARTITIONS,
        "trigger_batch_size": batch_size,
        "invocations": counters.batches,
        "records_delivered": counters.records,
        "failed_invocations": counters.failures,
        "startup_and_group_join_seconds": round(ready - starting, 2),
        "produce_rate_records_per_second": round(produce_rate),
        "measured_from": "the consumer holding its partitions (LocalStack.start returned) to every offset applied",
    }
    outcome.results.append(
        Result(
            name=f"backlog drain time, {records:,} records",
            value=drain,
            unit="s",
            floor=records / floor_rate,
            floor_name="a bare kafka-python consumer reading the same backlog",
            parameters=parameters,
        )
    )
    outcome.results.append(
        Result(
            name=f"backlog drain rate, {records:,} records",
            value=records / drain,
            unit="records/s",
            floor=floor_rate,
            floor_name="a bare kafka-python consumer reading the same backlog",
            parameters={"see": f"backlog drain time, {records:,} records"},
        )
    )
    progress.step(f"backlog: {records:,} records drained in {drain:.1f} s ({records / drain:,.0f} records/s)")
    return outcome
