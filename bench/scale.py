"""How big each benchmark is: the bounded default run, or the full-size run (BENCH_SCALE=25m)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

UPDATER_BATCH_SIZES = (100, 1_000, 10_000)


@dataclass(frozen=True)
class Scale:
    name: str
    # score_updater: records handled per batch size, wall-clock cap per size, the player pool
    updater_records_per_size: int
    updater_seconds_per_size: float
    updater_players: int
    naive_records: int
    board_memory_sample: int  # players loaded into a board of each window
    benchmark_requests: int  # redis-benchmark, no pipelining
    benchmark_requests_pipelined: int  # redis-benchmark -P 32
    # queries and memory
    board_players: int
    query_samples: int
    query_warmup: int
    # ingest through the batch route
    ingest_batches: int
    ingest_seconds: float
    # POST-to-visible through the local service
    visibility_rate: int  # events/s
    visibility_batch: int  # events per POST
    visibility_senders: int  # concurrent connections (game servers)
    visibility_seconds: float
    # backlog drain
    backlog_records: int
    backlog_players: int
    # sharded boards on the Cluster harness (bench/sharded.py): players on the one board, per layout
    sharded_players: int = 5_000_000

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT = Scale(
    name="default",
    updater_records_per_size=100_000,
    updater_seconds_per_size=20.0,
    updater_players=1_000_000,
    naive_records=20_000,
    board_memory_sample=500_000,
    benchmark_requests=200_000,
    benchmark_requests_pipelined=1_000_000,
    board_players=1_000_000,
    query_samples=3_000,
    query_warmup=300,
    ingest_batches=100,
    ingest_seconds=30.0,
    visibility_rate=2_000,
    visibility_batch=100,
    visibility_senders=4,
    visibility_seconds=20.0,
    backlog_records=1_000_000,
    backlog_players=500_000,
)

FULL = Scale(
    **{
        **DEFAULT.as_dict(),
        "name": "25m",
        "board_players": 25_000_000,
        "board_memory_sample": 2_000_000,
        "query_samples": 5_000,
        "updater_players": 5_000_000,
        "ingest_batches": 200,
        "ingest_seconds": 60.0,
        "visibility_seconds": 60.0,
        "backlog_players": 1_000_000,
        "sharded_players": 50_000_000,
    }
)

_NAMES = {"": DEFAULT, "default": DEFAULT, "1m": DEFAULT, "25m": FULL, "full": FULL}


def scale_from_env(environ: Mapping[str, str] | None = None) -> Scale:
    raw = (os.environ if environ is None else environ).get("BENCH_SCALE", "").strip().lower()
    try:
        return _NAMES[raw]
    except KeyError:
        raise SystemExit(f"BENCH_SCALE={raw!r} is not one of: default, 1m, 25m, full") from None
