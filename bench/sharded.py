"""Sharded boards on the Cluster harness: query latency and write throughput for S = 1, 4 and 16.

One all-time board of `Scale.sharded_players` players (5 M by default, 50 M with BENCH_SCALE=25m) is
loaded with ZADDs of 50 000 players a round, highest score first, split by home shard and sent as
prebuilt RESP to each key's node (bench/bulk_zadd.py; not through Kafka: the load is set-up, not the thing measured), on
a Redis Cluster of three primaries without replicas and without RDB or AOF (the RAM goes to the
board, and no fork doubles it), started on loopback for this section alone. For each S, in turn
(the previous layout is deleted first, so one board at a time holds RAM):

- memory: used_memory summed over the primaries, per player, on the server REDIS_SERVER picks
  (recorded in each row: Valkey 9 stores a player in about 60 % of Redis 7's bytes);
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

import numpy as np

from bench.bulk_zadd import ZaddLoader, highest_first, home_shards, member_rows, user_id
from bench.progress import Progress
from bench.results import Result, summary_ms
from bench.scale import Scale
from local_runtime.redis_binaries import server_binary
from local_runtime.redis_topologies import RedisClusterNodes
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import board_shard_keys
from shared.adapters.redis_client import create_redis_client
from shared.application.apply import APPLY_SLICE, PendingScore
from shared.domain.boards import Window

SHARD_COUNTS = (1, 4, 16)
BOARD = Window.ALLTIME.parse_period("all")
LOAD_CHUNK = 50_000  # players per round while loading, split into one ZADD per shard
LOAD_SECONDS_PER_MILLION = 12.0  # a load slower than this is cut short (and the row says how many it holds)
PROGRESS_EVERY = 5_000_000
# The harness's 1 s suits failover tests; here, with no replicas to promote, a node that the loaded
# machine starves for a second must not be declared failed (a 50 M run lost its cluster that way).
BENCH_NODE_TIMEOUT_MS = 60_000
WRITE_RECORDS = 200_000
WRITE_SECONDS = 20.0
QUERY_SECONDS = 20.0  # per query kind and S
NEIGHBOURS = 5
PARTITION = "bench/score-events-0"


@dataclass
class ShardedRun:
    results: list[Result] = field(default_factory=list)
    latencies: dict[int, dict[str, list[float]]] = field(default_factory=dict)  # S -> query -> seconds
    write_rates: dict[int, float] = field(default_factory=dict)
    players: int = 0


def _load(cluster: RedisClusterNodes, shards: int, players: int, seed: int, progress: Progress) -> int:
    """Load the board into the layout's keys; the players the servers added (fewer if cut at the deadline)."""
    keys = board_shard_keys(BOARD, shards)
    slots = BOARD.codec.slots
    rng = np.random.default_rng(seed)  # the same board in every layout
    scores = rng.integers(1, 5000, players, dtype=np.int64) * slots + rng.integers(0, slots, players)
    order = highest_first(scores)
    started = time.monotonic()
    deadline = started + LOAD_SECONDS_PER_MILLION * max(1, players / 1_000_000)
    sent = 0
    with ZaddLoader({key: cluster.primary_port(key) for key in keys}) as loader:
        while sent < players and time.monotonic() < deadline:
            chunk = order[sent : sent + LOAD_CHUNK]
            rows = member_rows(chunk, scores[chunk])
            homes = home_shards(chunk, shards)
            for shard, key in enumerate(keys):
                loader.zadd(key, rows[homes == shard])
            sent += len(chunk)
            if sent % PROGRESS_EVERY < len(chunk) or sent == players:
                rate = sent / (time.monotonic() - started)
                progress.step(f"   S={shards}: {sent:,} of {players:,} players sent, {rate:,.0f} players/s")
        added = loader.finish()
    if added != sent:
        raise RuntimeError(f"S={shards}: the servers added {added:,} players of {sent:,} sent")
    return added


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


def _persistence(cluster: RedisClusterNodes) -> dict[str, str]:
    """What each node would fork for (RDB `save` points, AOF), as the bench cluster runs them: both off."""
    settings: dict[str, str] = {}
    for port in cluster.nodes:
        node = create_redis_client(f"redis://127.0.0.1:{port}/0", decode_responses=True)
        try:
            for name in ("save", "appendonly"):
                settings[f"{port} {name}"] = str(node.config_get(name)[name])
        finally:
            node.close()
    return settings


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
    server = server_binary().version
    with tempfile.TemporaryDirectory(prefix="bench-sharded-") as workdir:
        progress.step(f"   starting a Redis Cluster of 3 primaries ({server}, no replicas, no RDB/AOF) on loopback")
        with RedisClusterNodes.start(
            Path(workdir), primaries=3, replicas_each=0, node_timeout_ms=BENCH_NODE_TIMEOUT_MS
        ) as cluster:
            persistence = _persistence(cluster)
            if any(value not in ("", "no") for value in persistence.values()):
                raise RuntimeError(f"the bench cluster must run without RDB or AOF, got {persistence}")
            baseline = _used_memory(cluster)
            for shards in SHARD_COUNTS:
                rng = random.Random(seed)
                started = time.monotonic()
                loaded = _load(cluster, shards, scale.sharded_players, seed, progress)
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
                common = {
                    "shards": shards,
                    "players": loaded,
                    "cluster_primaries": 3,
                    "cluster_replicas": 0,
                    "server": server,
                }
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
                        parameters={
                            **common,
                            "load_seconds": round(load_seconds, 1),
                            "load_players_per_second": round(loaded / load_seconds),
                            "used_memory_on": "primaries only, less the empty cluster's",
                        },
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
    # Named by players, not by scale: the 25m scale's sharded board holds 50 M.
    suffix = "" if scale.name == "default" else f"-{scale.sharded_players // 1_000_000}m"
    plot = plots.sharded(
        RESULTS_DIR / f"sharded{suffix}.png",
        result.latencies,
        result.write_rates,
        f"One board of {result.players:,} players in S shards on 3 Cluster primaries, "
        f"{server_binary().version} ({started_at:%Y-%m-%d})",
    )
    document = {
        "schema_version": SCHEMA_VERSION,
        "scale": scale.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(wall, 1),
        "machine": {
            "server": server_binary().version,
            "contention": contention(cpu_at_start, CpuSnapshot.take(), wall).as_dict(),
        },
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
