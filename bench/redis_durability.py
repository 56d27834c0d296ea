"""What Redis durability costs and buys, measured on this machine with real redis-servers.

    python -m bench.redis_durability                 # a few minutes; prints Markdown tables
    python -m bench.redis_durability --quick         # fewer rounds and batches
    python -m bench.redis_durability --json out.json

1. AOF off / everysec / always: updater applies (RedisBoardWriter.apply, the production Lua call)
   per batch size, then SIGKILL + restart: how many acknowledged batches are still there.
2. REDIS_WAIT_REPLICAS=1 against 0, with one replica: the latency each apply gains.
3. A failover right after a write the replica has not received: with WAIT off the write is
   acknowledged and then gone; with WAIT on it is refused (Kafka keeps it for the retry).
4. Failover times on a Sentinel group and a Redis Cluster: kill -> promoted, and kill -> the
   first successful read through shared.adapters.redis_client.

Never touches the machine's Redis on 6379: every server is started here on a free port.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import redis

from bench.workload import pending_score
from local_runtime.redis_topologies import REPLICATION_ARGS, FailoverTopology, RedisClusterNodes, SentinelGroup
from local_runtime.servers import LOOPBACK, RedisServer
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.board_writer import RedisBoardWriter, ReplicationLagging
from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import create_redis_client
from shared.application.apply import PendingScore
from shared.domain.boards import Board, Window
from shared.domain.errors import StoreUnavailable

PERIOD = "2026-11"
BOARD = Board(Window.MONTHLY, PERIOD)
PLAYERS = 50_000
AOF_MODES = {"off": ["--appendonly", "no"], "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"]}
AOF_MODES["always"] = ["--appendonly", "yes", "--appendfsync", "always"]


@dataclass
class Row:
    table: str
    case: str
    values: dict[str, Any]


def _batches(count: int, size: int, seed: int, partition: str = "scores-0") -> Iterator[tuple[str, list[PendingScore]]]:
    rng = random.Random(seed)
    offset = 0
    for _ in range(count):
        scores = []
        for _ in range(size):
            scores.append(
                pending_score(offset, f"p{rng.randrange(PLAYERS):06d}", rng.randint(1, 9), rng.randrange(86_400))
            )
            offset += 1
        yield partition, scores


def _timed_applies(store: RedisBoardWriter, count: int, size: int, seed: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for partition, scores in _batches(count, size, seed):
        began = time.perf_counter()
        store.apply(BOARD, partition, scores)
        latencies.append((time.perf_counter() - began) * 1000)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "batch_size": size,
        "records_per_s": round(count * size / elapsed),
        "p50_ms": round(statistics.median(latencies), 3),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3),
    }


def persistence(workdir: Path, batches: int, sizes: list[int]) -> list[Row]:
    rows = []
    for mode, args in AOF_MODES.items():
        for size in sizes:
            server = RedisServer.start(workdir / f"aof-{mode}-{size}", args=args)
            try:
                store = RedisBoardWriter(create_redis_client(server.url))
                measured = _timed_applies(store, batches, size, seed=size)
                watermark_before = _watermark(server.url)
                server.kill()
                server.restart()
                after = _watermark(server.url)
                measured["acknowledged_batches_lost_after_sigkill"] = (
                    (watermark_before - after) // size if after >= 0 else batches
                )
                rows.append(Row("persistence", mode, measured))
            finally:
                server.stop()
    return rows


def _watermark(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        raw = client.hget(applied_offsets_key(BOARD), "scores-0")
        return int(raw) if raw is not None else -1
    finally:
        client.close()


@contextmanager
def _primary_with_replica(workdir: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary = RedisServer.start(workdir, args=REPLICATION_ARGS)
    replica = RedisServer.start(workdir, args=[*REPLICATION_ARGS, "--replicaof", LOOPBACK, str(primary.port)])
    try:
        client = redis.Redis(host=LOOPBACK, port=replica.port)
        for _ in range(200):
            if client.info("replication").get("master_link_status") == "up":
                break
            time.sleep(0.05)
        client.close()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def wait_cost(workdir: Path, batches: int, sizes: list[int]) -> list[Row]:
    rows = []
    with _primary_with_replica(workdir / "wait") as (primary, _):
        client = create_redis_client(primary.url)
        for size in sizes:
            for wait in (0, 1):
                client.delete(BOARD.key, applied_offsets_key(BOARD), applied_events_key(BOARD, "scores-0"))
                store = RedisBoardWriter(client, wait_replicas=wait)
                rows.append(Row("wait", f"REDIS_WAIT_REPLICAS={wait}", _timed_applies(store, batches, size, seed=size)))
    return rows


def loss_on_failover(workdir: Path, rounds: int) -> list[Row]:
    """A write the replica has not received when the primary dies: acknowledged and lost, or refused?

    The replica is paused (SIGSTOP) and 32 MiB of filler fills the socket between the two, so
    the write that follows waits in the primary's output buffer; then the primary is SIGKILLed
    and the replica resumed, in well under Sentinel's down-after time, and promoted.
    """
    rows = []
    for wait in (0, 1):
        outcome = {"acknowledged_and_kept": 0, "acknowledged_and_lost": 0, "refused_by_wait": 0}
        for round_number in range(rounds):
            with SentinelGroup.start(workdir / f"loss-{wait}-{round_number}") as group:
                store = RedisBoardWriter(create_redis_client(group.url), wait_replicas=wait)
                store.apply(BOARD, "scores-0", [pending_score(0, "warm-up", 1, 1)])
                primary = group.primary_port()
                replica = next(node for port, node in group.nodes.items() if port != primary)
                filler = redis.Redis(host=LOOPBACK, port=primary)
                os.kill(replica.pid, signal.SIGSTOP)
                try:
                    for index in range(32):
                        filler.set(f"filler-{index}", b"x" * (1 << 20))
                    try:
                        store.apply(BOARD, "scores-0", [pending_score(1, "the-win", 5, 2)])
                        acknowledged = True
                    except ReplicationLagging:
                        acknowledged = False
                    killed = group.kill_primary()
                finally:
                    os.kill(replica.pid, signal.SIGCONT)
                    filler.close()
                group.wait_for_failover(killed)
                kept = _ask_with_retries(partial(_holds, store, 2))
                if not acknowledged:
                    outcome["refused_by_wait"] += 1
                else:
                    outcome["acknowledged_and_kept" if kept else "acknowledged_and_lost"] += 1
        rows.append(Row("loss", f"REDIS_WAIT_REPLICAS={wait}", {"rounds": rounds, **outcome}))
    return rows


def _holds(store: RedisBoardWriter, players: int) -> bool:
    return RedisBoardReader(store.client).page(BOARD, 0, 10, count_ahead=False).total == players


def _ask_with_retries(question: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            return question()
        except (redis.RedisError, StoreUnavailable):
            time.sleep(0.05)
    raise TimeoutError("the new primary did not answer")


def failover_times(workdir: Path, rounds: int) -> list[Row]:
    rows = []
    starters: dict[str, Callable[[Path], FailoverTopology]] = {
        "sentinel": SentinelGroup.start,
        "cluster": RedisClusterNodes.start,
    }
    for name, start in starters.items():
        promoted, readable = [], []
        for round_number in range(rounds):
            topology = start(workdir / f"{name}-{round_number}")
            try:
                store = RedisBoardWriter(create_redis_client(topology.url))
                store.apply(BOARD, "scores-0", [pending_score(0, "someone", 1, 1)])
                killed_at = time.monotonic()
                killed = topology.kill_primary(BOARD.key)
                readable.append(_first_good_read(store, killed_at))
                topology.wait_for_failover(killed)
                promoted.append(time.monotonic() - killed_at)
            finally:
                topology.stop()
        rows.append(
            Row(
                "failover",
                name,
                {
                    "rounds": rounds,
                    "promoted_s": [round(value, 2) for value in promoted],
                    "first_read_s": [round(value, 2) for value in readable],
                },
            )
        )
    return rows


def _first_good_read(store: RedisBoardWriter, since: float, limit_seconds: float = 30.0) -> float:
    while time.monotonic() - since < limit_seconds:
        try:
            RedisBoardReader(store.client).page(BOARD, 0, 10, count_ahead=False)
            return time.monotonic() - since
        except (redis.RedisError, StoreUnavailable):
            pass
        time.sleep(0.02)
    return float("nan")


def markdown(rows: list[Row]) -> str:
    out = []
    for table in dict.fromkeys(row.table for row in rows):
        chosen = [row for row in rows if row.table == table]
        columns = list(dict.fromkeys(key for row in chosen for key in row.values))
        out.append(f"\n{table}\n")
        out.append("| case | " + " | ".join(columns) + " |")
        out.append("|---" * (len(columns) + 1) + "|")
        for row in chosen:
            out.append(f"| {row.case} | " + " | ".join(str(row.values.get(column, "")) for column in columns) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer batches and rounds")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    batches, rounds = (100, 1) if args.quick else (400, 3)
    workdir = Path(tempfile.mkdtemp(prefix="redis-durability-"))
    rows = persistence(workdir, batches, [1, 100, 1000])
    rows += wait_cost(workdir, batches, [1, 100, 1000])
    rows += loss_on_failover(workdir, rounds)
    rows += failover_times(workdir, rounds)
    print(markdown(rows))
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
