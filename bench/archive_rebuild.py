"""Archive export (close) and restore (rebuild from the archive) on real servers, and what S3 holds.

    .venv/bin/python -m bench.archive_rebuild [--players 1000000]

A board of `players` is written into the bench's own redis-server, closed by the real PeriodCloser
to moto's S3 (16 PUTs at a time, as the function does), then deleted from Redis and restored by the
real BoardRebuilder (page GETs, ZADD into the shadow, read back for the checksum, RENAME). The
25 M figures are extrapolated from the measured per-player time and per-object bytes; the arithmetic
is in each result's parameters. Results go to bench/results/archive_rebuild.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from typing import Any

import boto3

from bench.environment import BenchServers
from bench.progress import Progress
from bench.results import RESULTS_DIR, Result, table
from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.kafka_replay import KafkaReplaySource
from shared.adapters.moderation_state import RedisModerationState
from shared.adapters.shadow_board import RedisShadowBoard
from shared.application.archive import PeriodCloser
from shared.application.rebuild import BoardRebuilder, RebuildSource, RebuildStatus
from shared.domain.boards import Board, BoardSchedule, Window
from tests.support.archive_fakes import FixedProgress

BOARD = Board(Window.MONTHLY, "2026-01")
BUCKET = "bench-archive"
PLAYERS = 1_000_000
TARGET = 25_000_000
LAMBDA_SECONDS = 900
WRITE_CHUNK = 10_000
MAX_PLAYERS = 5_000_000  # the load loop's bound


def fill(servers: BenchServers, players: int, seed: int, progress: Progress) -> None:
    rng = random.Random(seed)
    client = servers.redis_client()
    client.delete(BOARD.key)
    written = 0
    while written < players:
        count = min(WRITE_CHUNK, players - written)
        members = {
            f"u{rng.randrange(10**14):014d}": BOARD.codec.encode(int(rng.paretovariate(1.2) * 10), rng.randrange(1000))
            for _ in range(count)
        }
        client.zadd(BOARD.key, members)
        written += count
        if written % 200_000 < WRITE_CHUNK:
            progress.step(f"   board: {client.zcard(BOARD.key):,} players")
    # Ids drawn at random may repeat: top up to the exact count.
    while client.zcard(BOARD.key) < players:
        client.zadd(BOARD.key, {f"t{uuid.uuid4().hex[:13]}": 0})


def measure(servers: BenchServers, players: int, seed: int, progress: Progress) -> dict[str, Any]:
    players = min(players, MAX_PLAYERS)
    s3 = boto3.client(
        "s3",
        endpoint_url=servers.moto.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    s3.create_bucket(Bucket=BUCKET)
    store = S3ArchiveStore(s3, BUCKET)
    client = servers.redis_client()
    schedule = BoardSchedule((Window.MONTHLY,), retention_ms={Window.MONTHLY: 0})
    closer = PeriodCloser(
        export=RedisBoardExport(client),
        store=store,
        progress=FixedProgress(),
        schedule=schedule,
        clock=lambda: (BOARD.end_ms or 0) + 10 * 86_400_000,
        new_run_id=lambda: uuid.uuid4().hex,
        # Keeps the board in Redis after the close, so the bench deletes it itself.
        hot_periods=10_000,
        put_threads=16,  # as functions/period_closer does
    )
    progress.step(f"archive: writing a board of {players:,} players")
    fill(servers, players, seed, progress)
    progress.step("archive: closing it to S3 (moto)")
    started = time.perf_counter()
    outcome = closer.close(BOARD)
    close_seconds = time.perf_counter() - started
    assert outcome.total == players, outcome

    objects = pages = buckets = 0
    page_bytes = bucket_bytes = manifest_bytes = 0
    for listing in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in listing.get("Contents", []):
            objects += 1
            if "/pages/" in item["Key"]:
                pages += 1
                page_bytes += item["Size"]
            elif "/index/" in item["Key"]:
                buckets += 1
                bucket_bytes += item["Size"]
            else:
                manifest_bytes += item["Size"]

    client.delete(BOARD.key)
    rebuilder = BoardRebuilder(
        shadow=RedisShadowBoard(client),
        writer=RedisBoardWriter(client),
        archive=store,
        replay=KafkaReplaySource(servers.kafka.bootstrap, "unused", ""),
        schedule=schedule,
        closer=closer,
        clock=lambda: (BOARD.end_ms or 0) + 10 * 86_400_000,
        new_token=lambda: uuid.uuid4().hex,
        bans=RedisModerationState(client),
    )
    progress.step("archive: restoring it from S3 into a shadow key, verifying, swapping")
    started = time.perf_counter()
    restored = rebuilder.rebuild(BOARD, RebuildSource.ARCHIVE, LAMBDA_SECONDS)
    restore_seconds = time.perf_counter() - started
    assert restored.status is RebuildStatus.SWAPPED and client.zcard(BOARD.key) == players, restored
    client.delete(BOARD.key)
    return {
        "players": players,
        "close_seconds": round(close_seconds, 2),
        "restore_seconds": round(restore_seconds, 2),
        "objects": objects,
        "pages": pages,
        "buckets": buckets,
        "page_bytes": page_bytes,
        "bucket_bytes": bucket_bytes,
        "manifest_bytes": manifest_bytes,
    }


def results(measured: dict[str, Any]) -> list[Result]:
    players = measured["players"]
    scale = TARGET / players
    total_bytes = measured["page_bytes"] + measured["bucket_bytes"] + measured["manifest_bytes"]
    at_target = {
        "pages": -(-TARGET // 1_000),
        "buckets": -(-TARGET // 1_000),
    }
    target_objects = at_target["pages"] + at_target["buckets"] + 1
    rows = [
        Result(f"archive close (export) of {players:,} players", measured["close_seconds"], "s", parameters=measured),
        Result(f"archive restore (rebuild) of {players:,} players", measured["restore_seconds"], "s"),
        Result(f"archive objects at {players:,} players", measured["objects"], "objects"),
        Result(f"archive bytes at {players:,} players", total_bytes / 1e6, "MB"),
        Result(
            f"archive close at {TARGET:,} (extrapolated)",
            measured["close_seconds"] * scale,
            "s",
            parameters={"arithmetic": f"{measured['close_seconds']} s x {TARGET:,} / {players:,}"},
        ),
        Result(
            f"archive restore at {TARGET:,} (extrapolated)",
            measured["restore_seconds"] * scale,
            "s",
            parameters={"arithmetic": f"{measured['restore_seconds']} s x {TARGET:,} / {players:,}"},
        ),
        Result(
            f"archive objects at {TARGET:,}",
            target_objects,
            "objects",
            parameters={"arithmetic": f"{at_target['pages']:,} pages + {at_target['buckets']:,} buckets + 1 manifest"},
        ),
        Result(
            f"archive bytes at {TARGET:,} (extrapolated)",
            total_bytes * scale / 1e6,
            "MB",
            parameters={"arithmetic": f"{total_bytes:,} B x {TARGET:,} / {players:,}"},
        ),
    ]
    return rows


def run(servers: BenchServers, progress: Progress, seed: int, players: int = PLAYERS) -> list[Result]:
    measured = measure(servers, players, seed, progress)
    rows = results(measured)
    (RESULTS_DIR / "archive_rebuild.json").write_text(
        json.dumps({"measured": measured, "results": [row.as_dict() for row in rows]}, indent=1) + "\n"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=PLAYERS)
    args = parser.parse_args()
    progress = Progress()
    servers = BenchServers.start()
    try:
        rows = run(servers, progress, seed=1, players=args.players)
    finally:
        servers.stop()
    print(table(rows))


if __name__ == "__main__":
    main()
