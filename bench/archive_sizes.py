"""Archive object counts and sizes by page and bucket size, measured on a modest board and scaled.

    .venv/bin/python -m bench.archive_sizes [--players 200000] [--out bench/results/archive_sizes.json]

The board is built in memory (15-character user ids, Zipf-like points with many ties), closed by
the real PeriodCloser into an in-memory store, and every object is measured. Sizes per entry are
flat in the board size (a page is the same whatever the board), so the 1 M and 25 M figures are
the measured bytes per page / per bucket times the object counts at that size.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import mean

from bench.progress import Progress
from bench.results import RESULTS_DIR, Result
from shared.application.archive import PeriodCloser
from shared.application.queries import Entry
from shared.domain.archive import PAGE_SIZE, PLAYERS_PER_BUCKET
from shared.domain.boards import Board, BoardSchedule, Window
from tests.support.archive_fakes import FixedProgress, ListedBoards, MemoryArchiveStore

PAGE_SIZES = (250, 500, 1_000, 2_000)
BUCKET_SIZES = (500, 1_000, 2_000)
TARGETS = (1_000_000, 25_000_000)
BOARD = Board(Window.MONTHLY, "2026-01")
MAX_PLAYERS = 2_000_000


def board_of(players: int, seed: int = 1) -> list[Entry]:
    rng = random.Random(seed)
    points = sorted((int(rng.paretovariate(1.2) * 10) for _ in range(players)), reverse=True)
    return [Entry(f"u{rng.randrange(10**14):014d}", value) for value in points]


def measure(entries: list[Entry], page_size: int, players_per_bucket: int) -> dict[str, float]:
    store = MemoryArchiveStore()
    closer = PeriodCloser(
        export=ListedBoards({BOARD: entries}),
        store=store,
        progress=FixedProgress(),
        schedule=BoardSchedule((Window.MONTHLY,)),
        clock=lambda: BOARD.end_ms + 10 * 86_400_000,  # type: ignore[operator]
        new_run_id=lambda: "bench",
        page_size=page_size,
        players_per_bucket=players_per_bucket,
    )
    started = time.perf_counter()
    closer.close(BOARD)
    seconds = time.perf_counter() - started
    pages = [len(data) for key, data in store.objects.items() if "/pages/" in key]
    buckets = [len(data) for key, data in store.objects.items() if "/index/" in key]
    return {
        "page_size": page_size,
        "players_per_bucket": players_per_bucket,
        "pages": len(pages),
        "page_bytes_mean": round(mean(pages)),
        "page_bytes_max": max(pages),
        "buckets": len(buckets),
        "bucket_bytes_mean": round(mean(buckets)),
        "bucket_bytes_max": max(buckets),
        "bytes_per_player": round((sum(pages) + sum(buckets)) / len(entries), 1),
        "close_seconds": round(seconds, 2),
    }


def scaled(row: dict[str, float], players: int) -> dict[str, float]:
    pages = -(-players // int(row["page_size"]))
    buckets = -(-players // int(row["players_per_bucket"]))
    total = pages * row["page_bytes_mean"] + buckets * row["bucket_bytes_mean"]
    return {
        "players": players,
        "objects": pages + buckets + 1,
        "pages": pages,
        "buckets": buckets,
        "mb": round(total / 1e6),
    }


def measured_players(players: int) -> int:
    """The board size actually built: at least 1,000 players, at most MAX_PLAYERS."""
    return min(max(players, 1_000), MAX_PLAYERS)


def each_size(players: int) -> Iterator[dict[str, float]]:
    """Every page size and bucket size measured on one board, a row at a time."""
    entries = board_of(measured_players(players))
    for page_size in PAGE_SIZES:
        for per_bucket in BUCKET_SIZES:
            row = measure(entries, page_size, per_bucket)
            row["at"] = [scaled(row, target) for target in TARGETS]  # type: ignore[assignment]
            yield row


def save_rows(path: Path, players: int, rows: list[dict[str, float]]) -> None:
    path.write_text(json.dumps({"measured_players": measured_players(players), "rows": rows}, indent=1) + "\n")


def sizes(players: int, progress: Progress | None = None) -> list[dict[str, float]]:
    rows = []
    for row in each_size(players):
        rows.append(row)
        if progress is not None:
            progress.step(
                f"   page {row['page_size']:,}, {row['players_per_bucket']:,} players/bucket: "
                f"{row['bytes_per_player']} B/player"
            )
    return rows


def run(progress: Progress, players: int = 200_000) -> list[Result]:
    """`make bench`'s section: every size measured (bench/results/archive_sizes.json), the chosen one in the table."""
    rows = sizes(players, progress)
    save_rows(RESULTS_DIR / "archive_sizes.json", players, rows)
    chosen = next(
        row for row in rows if row["page_size"] == PAGE_SIZE and row["players_per_bucket"] == PLAYERS_PER_BUCKET
    )
    results = [
        Result("archive page (1,000 entries), mean", chosen["page_bytes_mean"] / 1e3, "kB"),
        Result("archive index bucket (1,000 players), mean", chosen["bucket_bytes_mean"] / 1e3, "kB"),
        Result("archive bytes per player", chosen["bytes_per_player"], "B", parameters={"measured_players": players}),
    ]
    for target in chosen["at"]:  # type: ignore[attr-defined]
        results.append(Result(f"archive objects at {target['players']:,} players", target["objects"], "objects"))
        results.append(Result(f"archive size at {target['players']:,} players", target["mb"], "MB"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = []
    for row in each_size(args.players):
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.out:
        save_rows(args.out, args.players, rows)


if __name__ == "__main__":
    main()
