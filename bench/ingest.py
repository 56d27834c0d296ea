"""The batch ingest route in-process: match_ingest's lambda_handler on 500-event POSTs, producing
to the real Tansu broker, against the floor of producing the same records with kafka-python alone
(the same producer settings ScoreEventPublisher uses: idempotent, acks=all, linger 2 ms)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaProducer

from bench.environment import PARTITIONS, BenchServers
from bench.progress import Progress
from bench.results import Result, Target, summary_ms
from bench.scale import Scale
from bench.workload import post_batch_event, recent_occurred_at, score_record, short_id
from shared.domain.events import MAX_EVENTS_PER_BATCH

FLOOR = "kafka-python produce alone (idempotent, acks=all), same records"


@dataclass
class IngestRun:
    results: list[Result] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def _scores(batch: int, rng: random.Random, players: int, now_ms: int) -> list[dict[str, Any]]:
    return [
        {
            "match_id": f"ingest-{batch}-{index}",
            "user_id": short_id(rng.randrange(players)),
            "points": rng.randint(1, 100),
            "occurred_at": recent_occurred_at(now_ms, rng),
        }
        for index in range(MAX_EVENTS_PER_BATCH)
    ]


def run(servers: BenchServers, scale: Scale, progress: Progress, seed: int, *, now_ms: int) -> IngestRun:
    outcome = IngestRun()
    rng = random.Random(seed)
    topic = f"bench-ingest-{seed}"
    servers.kafka.create_topic(topic, PARTITIONS)
    handler = servers.load_function("MatchIngestFunction", topic)
    batches = [_scores(b, rng, scale.updater_players, now_ms) for b in range(scale.ingest_batches + 1)]
    events = [post_batch_event(scores) for scores in batches]

    warmup = handler(events[0])  # connects the producer and fetches metadata
    if warmup["statusCode"] != 202:
        raise RuntimeError(f"match_ingest refused the warm-up batch: {warmup}")
    durations: list[float] = []
    deadline = time.monotonic() + scale.ingest_seconds
    for event in events[1:]:
        context = handler.context()
        started = time.perf_counter()
        response = handler.handler(event, context)
        durations.append(time.perf_counter() - started)
        if response["statusCode"] != 202:
            raise RuntimeError(f"match_ingest answered {response['statusCode']}: {response.get('body')}")
        if time.monotonic() > deadline and len(durations) >= 3:
            break
    accepted = len(durations) * MAX_EVENTS_PER_BATCH
    rate = accepted / sum(durations)
    outcome.latencies = durations
    progress.step(f"match_ingest handler, {len(durations)} batches of {MAX_EVENTS_PER_BATCH}: {rate:,.0f} events/s")

    floor_rate, floor_durations = _produce_floor(servers, topic, batches[1 : len(durations) + 1], now_ms)
    progress.step(f"ingest floor: kafka-python produce of the same batches: {floor_rate:,.0f} events/s")
    outcome.results.append(
        Result(
            name=f"ingest batch route, {MAX_EVENTS_PER_BATCH}-event batches, one process",
            value=rate,
            unit="events/s",
            floor=floor_rate,
            floor_name=FLOOR,
            parameters={
                "batches": len(durations),
                "events": accepted,
                "partitions": PARTITIONS,
                "request_latency": summary_ms(durations),
                "floor_batch_latency": summary_ms(floor_durations),
                "includes": "body validation (pydantic), idempotency ledger claim+confirm in Redis, "
                "produce with acks=all and wait for every ack",
            },
            targets=[Target("≥ 2 k events/s", 2_000, "min")],
        )
    )
    return outcome


def _produce_floor(
    servers: BenchServers, topic: str, batches: list[list[dict[str, Any]]], now_ms: int
) -> tuple[float, list[float]]:
    producer = KafkaProducer(
        bootstrap_servers=[servers.kafka.bootstrap],
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        client_id="bench-ingest-floor",
    )
    try:
        encoded = [
            [score_record(s["match_id"], s["user_id"], s["points"], s["occurred_at"]) for s in scores]
            for scores in batches
        ]
        producer.send(topic, key=b"warmup", value=encoded[0][0].value).get(timeout=30)
        durations = []
        for records in encoded:
            started = time.perf_counter()
            futures = [producer.send(topic, key=r.key, value=r.value) for r in records]
            producer.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)
            durations.append(time.perf_counter() - started)
    finally:
        producer.close(timeout=5)
    return len(batches) * MAX_EVENTS_PER_BATCH / sum(durations), durations
