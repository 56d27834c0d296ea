"""Sharded boards on the Cluster harness: query latency and write throughput for S = 1, 4 and 16.

One all-time board of `Scale.sharded_players` players (5 M by default, 50 M with BENCH_SCALE=25m) is
loaded with pipelined ZADD straight into the layout's keys (not through Kafka: the load is set-up,
not the thing measured), on a Redis Cluster of three primaries without replicas (the RAM goes to
the board), started on loopback for this section alone. For each S, in turn (the previous layout
is deleted first, so one board at a time holds RAM):

- memory: used_memory summed over the primaries, per player;
- queries, through RedisBoardReader as the query function uses it: top 10, a player's rank (the
  standing with no neighbours) and rank ± 5, each for random players, `query_samples` times;
- writes: RedisBoardWriter.apply, the production Lua call, in slices of APPLY_SLICE records for
  random existing players, from one thread, bounded by WRITE_RECORDS and WRITE_SECONDS.

Every loop is bounded in count and time; the cluster listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.progress import Progress
from bench.results import Result, summary_ms
from bench.scale import Scale
from local_runtime.redis_topologies import RedisClusterNodes
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import board_shard_keys
from shared.adapters.redis_client import create_redis_client
from shared.application.apply import APPLY_SLICE, PendingScore
from shared.domain.boards import Window
from shared.domain.sharding import home_shard

SHARD_COUNTS = (1, 4, 16)
BOARD = Window.ALLTIME.parse_period("all")
LOAD_CHUNK = 50_000  # members per pipeline round while loading
LOAD_SECONDS_PER_MILLION = 60.0  # a load slower than this is cut short (and the row says how many it holds)
WRITE_RECORDS = 200_000
WRITE_SECONDS = 20.0
QUERY_SECONDS = 20.0  # per query kind and S
NEIGHBOURS = 5
PARTITION = "bench/score-events-0"


def user_id(index: int) -> str:
    return f"player-{index:08d}"  # 15 characters, as the memory figures


@dataclass
class ShardedRun:
    results: list[Result] = field(default_factory=list)
    latencies: dict[int, dict[str, list[float]]] = field(default_factory=dict)  # S -> query -> seconds
    write_rates: dict[int, float] = field(default_factory=dict)
    players: int = 0


def _load(cluster: RedisClusterNodes, shards: int, players: int, rng: random.Random, progress: Progress) -> int:
    client = create_redis_client(cluster.url)
    keys = board_shard_keys(BOARD, shards)
    slots = BOARD.codec.slots
    deadline = time.monotonic() + LOAD_SECONDS_PER_MILLION * max(1, players / 1_000_000)
    loaded = 0
    try:
        while loaded < players and time.monotonic() < deadline:
            chunk = min(LOAD_CHUNK, players - loaded)
            by_shard: list[dict[str, int]] = [{} for _ in keys]
            for index in range(loaded, loaded + chunk):
                user = user_id(index)
                by_shard[home_shard(user, shards)][user] = rng.randrange(1, 5000) * slots + rng.randrange(slots)
            pipeline = client.pipeline(transaction=False)
            for key, members in zip(keys, by_shard, strict=True):
                if members:
                    pipeline.zadd(key, members)
            pipeline.execute()
            loaded += chunk
            if loaded % 1_000_000 < chunk:
                progress.step(f"   S={shards}: {loaded:,} of {players:,} players loaded")
    finally:
        client.close()
    return loaded


def _used_memory(cluster: RedisClusterNodes) -> int:
    total = 0
    for port in cluster.nodes:
        node = create_redis_client(f"redis://127.0.0.1:{port}/0")
        try:
            if node.info("replication")["role"] == "master":  # type: ignore[index]
                total += int(node.info("memory")["used_memory"])  # type: ignore[index]
        finally:
            node.close()
    return total


def _timed(calls: int, seconds: float, call: Callable[[], object]) -> list[float]:
    took: list[float] = []
    stop = time.monotonic() + seconds
    for _ in range(calls):
        started = time.perf_counter()
        call()
        took.append(time.perf_counter() - started)
        if time.monotonic() > stop:
            break
    return took


def _queries(reader: RedisBoardReader, players: int, samples: int, rng: random.Random) -> dict[str, list[float]]:
    def someone() -> str:
        return user_id(rng.randrange(players))

    return {
        "top 10": _timed(samples, QUERY_SECONDS, lambda: reader.page(BOARD, 0, 10, count_ahead=False)),
        "rank": _timed(samples, QUERY_SECONDS, lambda: reader.around(BOARD, someone(), 0, count_ahead=False)),
        f"rank ± {NEIGHBOURS}": _timed(
            samples, QUERY_SECONDS, lambda: reader.around(BOARD, someone(), NEIGHBOURS, count_ahead=False)
        ),
    }


def _writes(writer: RedisBoardWriter, players: int, rng: random.Random) -> tuple[int, float]:
    offset, written = 0, 0
    started = time.perf_counter()
    stop = time.monotonic() + WRITE_SECONDS
    while written < WRITE_RECORDS and time.monotonic() < stop:
        scores = [
            PendingScore(offset + n, rng.randbytes(16), user_id(rng.randrange(players)), rng.randint(1, 50), 1000, -1)
            for n in range(APPLY_SLICE)
        ]
        result = writer.apply(BOARD, PARTITION, scores)
        if result.applied != len(scores):
            raise RuntimeError(f"S={writer.shards}: {result.applied} of {len(scores)} records applied")
        offset += APPLY_SLICE
        written += APPLY_SLICE
    return written, time.perf_counter() - started


def _remove_layout(cluster: RedisClusterNodes, shards: int) -> None:
    client = create_redis_client(cluster.url)
    try:
        for key in board_shard_keys(BOARD, shards):
            # UNLINK frees the set in the background: DEL of millions of members blocks the node for seconds.
            client.unlink(key, f"{key}:applied", f"{key}:events:{PARTITION}")
    finally:
        client.close()


def run(scale: Scale, progress: Progress, seed: int) -> ShardedRun:
    run_result = ShardedRun(players=scale.sharded_players)
    with tempfile.TemporaryDirectory(prefix="bench-sharded-") as workdir:
        progress.step("   starting a Redis Cluster of 3 primaries (no replicas) on loopback")
        with RedisClusterNodes.start(Path(workdir), primaries=3, replicas_each=0) as cluster:
            baseline = _used_memory(cluster)
            for shards in SHARD_COUNTS:
                rng = random.Random(seed)
                started = time.monotonic()
                loaded = _load(cluster, shards, scale.sharded_players, rng, progress)
                load_seconds = time.monotonic() - started
                bytes_per_player = (_used_memory(cluster) - baseline) / max(1, loaded)
                progress.step(
                    f"   S={shards}: {loaded:,} players loaded in {load_seconds:.0f} s, "
                    f"{bytes_per_player:.0f} B each; querying"
                )
                client = create_redis_client(cluster.url)
                try:
                    reader = RedisBoardReader(client, shards={Window.ALLTIME: shards})
                    latencies = _queries(reader, loaded, scale.query_samples, rng)
                    writer = RedisBoardWriter(client, shards={Window.ALLTIME: shards}, remember_events_seconds=60)
                    written, seconds = _writes(writer, loaded, rng)
                finally:
                    client.close()
                rate = written / seconds
                run_result.latencies[shards] = latencies
                run_result.write_rates[shards] = rate
                common = {"shards": shards, "players": loaded, "cluster_primaries": 3}
                for query, took in latencies.items():
                    summary = summary_ms(took)
                    run_result.results.append(
                        Result(
                            f"sharded S={shards}: {query} p99",
                            summary["p99_ms"],
                            "ms",
                            parameters={**common, **summary},
                        )
                    )
                run_result.results.append(
                    Result(
                        f"sharded S={shards}: writes (apply_scores.lua per shard)",
                        rate,
                        "records/s",
                        parameters={**common, "records": written, "slice": APPLY_SLICE, "threads": 1},
                    )
                )
                run_result.results.append(
                    Result(
                        f"sharded S={shards}: memory per player",
                        bytes_per_player,
                        "B",
                        parameters={**common, "load_seconds": round(load_seconds, 1)},
                    )
                )
                progress.step(
                    f"   S={shards}: top 10 p99 {summary_ms(latencies['top 10'])['p99_ms']:.2f} ms, "
                    f"rank p99 {summary_ms(latencies['rank'])['p99_ms']:.2f} ms, writes {rate:,.0f} records/s"
                )
                _remove_layout(cluster, shards)
    return run_result


def main() -> int:
    """`python -m bench.sharded`: this section alone (it starts its own cluster), its table, JSON and plot."""
    from datetime import UTC, datetime

    from bench import plots
    from bench.machine import CpuSnapshot, contention
    from bench.results import RESULTS_DIR, SCHEMA_VERSION, table
    from bench.scale import scale_from_env

    scale = scale_from_env()
    progress = Progress()
    started_at = datetime.now(UTC)
    cpu_at_start = CpuSnapshot.take()
    progress.step(f"sharded boards, scale '{scale.name}': {scale.sharded_players:,} players (BENCH_SCALE=25m: 50 M)")
    result = run(scale, progress, seed=20_240_601)
    wall = (datetime.now(UTC) - started_at).total_seconds()
    suffix = "" if scale.name == "default" else f"-{scale.name}"
    plot = plots.sharded(
        RESULTS_DIR / f"sharded{suffix}.png",
        result.latencies,
        result.write_rates,
        f"One board of {result.players:,} players in S shards on 3 Cluster primaries ({started_at:%Y-%m-%d})",
    )
    document = {
        "schema_version": SCHEMA_VERSION,
        "scale": scale.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(wall, 1),
        "machine": {"contention": contention(cpu_at_start, CpuSnapshot.take(), wall).as_dict()},
        "results": [row.as_dict() for row in result.results],
        "plots": [plot.name],
    }
    path = RESULTS_DIR / f"sharded{suffix}.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(table(result.results))
    progress.step(f"wrote {path.name} and {plot.name} in {RESULTS_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
