"""score_updater throughput on `aws:kafka` events, and the Redis floors it is compared with.

- the real lambda_handler, in-process, on prebuilt events of 100, 1 k and 10 k records;
- the same records through RedisBoardWriter.apply alone (the Lua script, no Kafka decoding);
- a naive loop: one redis-py ZINCRBY per record;
- redis-benchmark ZINCRBY on the same redis-server, 50 clients, without and with -P 32.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import subprocess
import time
from dataclasses import dataclass, field

import redis

from bench.environment import PARTITIONS, BenchServers
from bench.gcclock import GcClock
from bench.progress import Progress
from bench.results import Result, Target, summary_ms
from bench.scale import UPDATER_BATCH_SIZES, Scale
from bench.workload import KafkaEventFactory, pending_score, short_id
from local_runtime.processes import redis_binary_environ
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import board_key
from shared.adapters.redis_client import create_redis_client
from shared.domain.periods import now_ms, period_of

TOPIC = "score-events"
NAIVE = "naive per-record ZINCRBY loop (redis-py)"
BENCHMARK_TIMEOUT_SECONDS = 300
NAIVE_CHUNKS = 5
NAIVE_CHUNKS_BEFORE = 3


@dataclass
class UpdaterRun:
    results: list[Result] = field(default_factory=list)
    handler_rates: dict[int, float] = field(default_factory=dict)  # batch size -> records/s
    lua_rates: dict[int, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)  # name -> records/s


def run(servers: BenchServers, scale: Scale, progress: Progress, seed: int) -> UpdaterRun:
    outcome = UpdaterRun()
    rng = random.Random(seed)
    started_ms = now_ms()
    period = period_of(started_ms)
    client = servers.redis_client()

    # The naive loop is one round trip per call, so a moment of contention moves it a lot: it runs in
    # chunks before and after the handler measurements, and the median chunk is the floor.
    naive_key = board_key("bench-naive")
    chunk = max(1, scale.naive_records // NAIVE_CHUNKS)
    naive_chunks = [
        _naive_loop(client, naive_key, chunk, scale.updater_players, rng) for _ in range(NAIVE_CHUNKS_BEFORE)
    ]
    progress.step(
        f"updater floor: naive ZINCRBY loop, {NAIVE_CHUNKS_BEFORE} x {chunk:,} calls: "
        + ", ".join(f"{rate:,.0f}" for rate in naive_chunks)
        + " records/s"
    )
    for pipeline in (1, 32):
        requests = scale.benchmark_requests if pipeline == 1 else scale.benchmark_requests_pipelined
        rate, latency = _redis_benchmark(servers, requests, pipeline)
        name = f"redis-benchmark ZINCRBY -c 50 -P {pipeline}"
        outcome.floors[name] = rate
        reference = "~24 k/s" if pipeline == 1 else "~109 k/s"
        outcome.results.append(
            Result(
                name=f"redis-benchmark ZINCRBY, 50 clients, {'no pipelining' if pipeline == 1 else 'pipeline 32'}",
                value=rate,
                unit="ops/s",
                parameters={
                    "requests": requests,
                    "clients": 50,
                    "pipeline": pipeline,
                    "random_members": 1_000_000,
                    "p50_ms": latency.get("p50"),
                    "p99_ms": latency.get("p99"),
                    "design_reference": reference,
                },
            )
        )
        progress.step(f"updater floor: {name}, {requests:,} requests: {rate:,.0f} ops/s")

    handler = servers.load_function("ScoreUpdaterFunction", TOPIC)
    handler_rows: list[Result] = []
    factory = KafkaEventFactory(TOPIC, PARTITIONS, scale.updater_players, rng, started_ms)
    warmup = handler(factory.event(100))
    if warmup.get("batchItemFailures"):
        raise RuntimeError(f"score_updater failed its warm-up batch: {warmup}")

    for size in UPDATER_BATCH_SIZES:
        count = max(3, scale.updater_records_per_size // size)
        built = time.monotonic()
        # Serialized, as Lambda's runtime receives them; each is parsed just before its timed call, so the
        # heap holds one event at a time, as in a Lambda container.
        events = [json.dumps(factory.event(size)).encode() for _ in range(count)]
        build_seconds = time.monotonic() - built
        durations: list[float] = []
        board_before = client.zcard(board_key(period))
        deadline = time.monotonic() + scale.updater_seconds_per_size
        with GcClock() as gc_clock:
            for payload in events:
                event = json.loads(payload)
                context = handler.context()
                started = time.perf_counter()
                response = handler.handler(event, context)
                durations.append(time.perf_counter() - started)
                if response.get("batchItemFailures"):
                    raise RuntimeError(f"score_updater reported failures on a clean batch: {response}")
                if time.monotonic() > deadline and len(durations) >= 3:
                    break
        del events
        records = size * len(durations)
        rate = records / sum(durations)
        outcome.handler_rates[size] = rate
        handler_rows.append(
            Result(
                name=f"score_updater handler, {size:,}-record events",
                value=rate,
                unit="records/s",
                floor_name=NAIVE,
                parameters={
                    "batch_size": size,
                    "invocations": len(durations),
                    "records": records,
                    "partitions": PARTITIONS,
                    "player_pool": scale.updater_players,
                    "period": period,
                    "board_players_before_after": [board_before, client.zcard(board_key(period))],
                    "event_build_seconds": round(build_seconds, 2),
                    "event_parse": "json.loads before each call, outside the timing (Lambda's runtime does it)",
                    "gc_share_of_handler_time": round(gc_clock.share_of(sum(durations)), 3),
                    "gc_collections_by_generation": gc_clock.collections,
                    "invocation_latency": summary_ms(durations),
                    "vs_redis_benchmark_p32": round(rate / outcome.floors["redis-benchmark ZINCRBY -c 50 -P 32"], 3),
                },
                targets=[
                    Target("≥ 100 k records/s", 100_000, "min"),
                    Target("≥ 5x naive loop", 5.0, "min", on="ratio"),
                ]
                if size == 10_000
                else [],
            )
        )
        progress.step(f"score_updater handler, {len(durations)} x {size:,}-record events: {rate:,.0f} records/s")

    naive_chunks += [
        _naive_loop(client, naive_key, chunk, scale.updater_players, rng)
        for _ in range(NAIVE_CHUNKS - NAIVE_CHUNKS_BEFORE)
    ]
    naive_rate = statistics.median(naive_chunks)
    outcome.floors[NAIVE] = naive_rate
    progress.step(
        f"updater floor: naive ZINCRBY loop, median of {len(naive_chunks)} chunks of {chunk:,} calls: "
        f"{naive_rate:,.0f} records/s (chunks: {', '.join(f'{rate:,.0f}' for rate in naive_chunks)})"
    )
    for row in handler_rows:
        row.floor = naive_rate
    outcome.results[:0] = [
        *handler_rows,
        Result(
            name="naive per-record ZINCRBY loop, one redis-py call per record",
            value=naive_rate,
            unit="records/s",
            parameters={
                "calls": chunk * len(naive_chunks),
                "chunk_rates": [round(rate) for rate in naive_chunks],
                "statistic": f"median of {len(naive_chunks)} chunks, {NAIVE_CHUNKS_BEFORE} before and the rest "
                "after the handler measurements",
                "clients": 1,
                "pipeline": 1,
                "note": "the floor the updater must beat by 5x",
            },
        ),
    ]

    store = RedisBoardWriter(create_redis_client(servers.redis.url))
    offset = 0
    for size in UPDATER_BATCH_SIZES:
        calls = max(3, scale.lua_records_per_size // size)
        batches = []
        for _ in range(calls):
            batch = [
                pending_score(
                    offset + i, short_id(rng.randrange(scale.updater_players)), rng.randint(1, 100), rng.randrange(3600)
                )
                for i in range(size)
            ]
            offset += size
            batches.append(batch)
        durations = []
        for batch in batches:
            started = time.perf_counter()
            store.apply(period, "bench-lua-0", batch)
            durations.append(time.perf_counter() - started)
        rate = size * calls / sum(durations)
        outcome.lua_rates[size] = rate
        outcome.results.append(
            Result(
                name=f"apply_scores.lua via RedisBoardWriter.apply, {size:,} records/call",
                value=rate,
                unit="records/s",
                floor=naive_rate,
                floor_name=NAIVE,
                parameters={
                    "batch_size": size,
                    "calls": calls,
                    "call_latency": summary_ms(durations),
                    "note": "the updater's Redis work alone: no Kafka decoding, no Powertools",
                },
            )
        )
        progress.step(f"apply_scores.lua alone, {calls} x {size:,} records: {rate:,.0f} records/s")
    return outcome


def _naive_loop(client: redis.Redis, key: str, count: int, players: int, rng: random.Random) -> float:
    pairs = [(short_id(rng.randrange(players)), rng.randint(1, 100)) for _ in range(count)]
    zincrby = client.zincrby
    started = time.perf_counter()
    for user_id, points in pairs:
        zincrby(key, points, user_id)
    return count / (time.perf_counter() - started)


def _redis_benchmark(servers: BenchServers, requests: int, pipeline: int) -> tuple[float, dict[str, float]]:
    argv = [
        "redis-benchmark",
        "-h",
        servers.redis.host,
        "-p",
        str(servers.redis.port),
        "-c",
        "50",
        "-n",
        str(requests),
        "-P",
        str(pipeline),
        "-r",
        "1000000",
        "--csv",
        "ZINCRBY",
        "bench:zincrby",
        "1",
        "member:__rand_int__",
    ]
    finished = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=BENCHMARK_TIMEOUT_SECONDS,
        check=True,
        env=redis_binary_environ(),
    )
    rows = list(csv.DictReader(io.StringIO(finished.stdout)))
    if not rows:
        raise RuntimeError(f"redis-benchmark printed no result:\n{finished.stdout}{finished.stderr}")
    row = rows[-1]
    latency = {"p50": float(row["p50_latency_ms"]), "p99": float(row["p99_latency_ms"])}
    return float(row["rps"]), latency
