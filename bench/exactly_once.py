"""What the apply side's exactly-once memory costs, measured on a real redis-server here.

    python -m bench.exactly_once                    # about a minute; prints a table
    python -m bench.exactly_once --events 2000000   # the seed's hour at 3x the average rate
    python -m bench.exactly_once --json out.json

1. Memory per remembered event: distinct events applied to one board; the board's event-id set
   (`MEMORY USAGE`, exact) and `used_memory` growth, divided by the events.
2. Apply throughput of the production script against the script from before event ids were
   remembered (watermarks only; read from git), on the same records, 2 000 records per call.

Never touches the machine's Redis on 6379: the server is started here on a free port.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.environment import REPO_ROOT
from bench.workload import pending_score, short_id
from local_runtime.servers import RedisServer
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import PendingScore
from shared.domain.boards import Window

BOARD = Window.MONTHLY.parse_period("2001-01")
PARTITION = "bench/score-events-0"
SLICE = 2000
# The watermark-only script, as it was before the apply side remembered event ids.
WATERMARK_ONLY_COMMIT = "c94429b"


@dataclass
class Row:
    measurement: str
    value: float
    unit: str
    detail: str


def _records(count: int, players: int, seed: int) -> list[PendingScore]:
    rng = random.Random(seed)
    return [
        pending_score(offset, short_id(rng.randrange(players)), rng.randint(1, 100), rng.randrange(3600))
        for offset in range(count)
    ]


def _used_memory(client: RedisClient) -> int:
    return int(client.info("memory")["used_memory"])  # type: ignore[index]


def _reset(client: RedisClient) -> None:
    client.delete(BOARD.key, applied_offsets_key(BOARD), applied_events_key(BOARD, PARTITION))


def memory_per_event(client: RedisClient, events: int, players: int) -> list[Row]:
    _reset(client)
    store = RedisBoardWriter(client, remember_events_seconds=86_400)
    records = _records(events, players, seed=1)
    for start in range(0, events, SLICE):
        store.apply(BOARD, PARTITION, records[start : start + SLICE])
    before = _used_memory(client)
    events_key = applied_events_key(BOARD, PARTITION)
    exact = int(client.memory_usage(events_key, samples=0) or 0)
    client.delete(events_key)
    freed = before - _used_memory(client)
    return [
        Row("remembered event, MEMORY USAGE", exact / events, "B/event", f"{events:,} events, one board"),
        Row("remembered event, used_memory freed", freed / events, "B/event", f"{events:,} events, one board"),
    ]


def _watermark_only_script() -> str:
    done = subprocess.run(
        ["git", "show", f"{WATERMARK_ONLY_COMMIT}:shared/adapters/lua/apply_scores.lua"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return done.stdout


def throughput(client: RedisClient, records_count: int, players: int, rounds: int = 3) -> list[Row]:
    """Best of `rounds` for each script, the two alternating so background load hits both alike."""
    records = _records(records_count, players, seed=2)
    slices = [records[start : start + SLICE] for start in range(0, records_count, SLICE)]
    store = RedisBoardWriter(client)
    old = client.register_script(_watermark_only_script())
    keys = [BOARD.key, applied_offsets_key(BOARD)]

    def remembering_run() -> float:
        for scores in slices:
            store.apply(BOARD, PARTITION, scores)
        return 0.0

    def watermark_only_run() -> float:
        for scores in slices:
            args: list[str | int] = [BOARD.codec.slots, BOARD.codec.max_points, PARTITION]
            for score in scores:
                args += [score.offset, score.user_id, score.points, score.reached_tick]
            old(keys=keys, args=args)
        return 0.0

    best = {"before": 0.0, "after": 0.0}
    for _ in range(rounds):
        for name, run in (("before", watermark_only_run), ("after", remembering_run)):
            _reset(client)
            started = time.perf_counter()
            run()
            best[name] = max(best[name], records_count / (time.perf_counter() - started))
    watermark_only, remembering = best["before"], best["after"]
    detail = f"{records_count:,} records, {SLICE:,} per call, {players:,} players, best of {rounds}"
    return [
        Row("apply, watermarks only (before)", watermark_only, "records/s", detail),
        Row("apply, watermarks + remembered event ids", remembering, "records/s", detail),
        Row("apply, cost of remembering", remembering / watermark_only, "x", "after / before"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=300_000, help="events remembered for the memory figure")
    parser.add_argument("--players", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if not 1_000 <= args.events <= 5_000_000:
        parser.error("--events must be within 1000..5000000")

    server = RedisServer.start(Path(tempfile.mkdtemp(prefix="leaderboard-bench-eo-")))
    client = create_redis_client(server.url)
    try:
        print(f"memory: applying {args.events:,} distinct events ...", flush=True)
        rows = memory_per_event(client, args.events, args.players)
        print(f"throughput: {min(args.events, 200_000):,} records, before and after ...", flush=True)
        rows += throughput(client, min(args.events, 200_000), args.players)
    finally:
        client.close()
        server.stop()

    print("\n| measurement | value | unit | detail |\n|---|---:|---|---|")
    for row in rows:
        print(f"| {row.measurement} | {row.value:,.2f} | {row.unit} | {row.detail} |")
    if args.json:
        args.json.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
