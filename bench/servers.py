"""Valkey against Redis, in one run: memory per player (fresh and after a day of churn), RSS and
fragmentation, and the updater's and the queries' throughput, on each server in turn.

    python -m bench.servers                      # both servers, the default sizes (a few minutes)
    python -m bench.servers --players 5000000 --updates 10000000 --memory-only

Memory uses the project's real layout: 15-character player ids on a monthly board (the monthly
codec's scores), loaded with pipelined ZADDs, then churned through `RedisBoardWriter.apply` (the
production apply script) on four partitions, so the remembered event ids and the watermarks cost
what they cost in production. The churn's record times span a simulated day, so at the end each
partition remembers the events of the last remembering window (an hour by default), as a live
updater would. Throughput reuses bench/updater.py and bench/queries.py unchanged on a smaller scale.

Each server gets its own work dir and ports (never the machine's Redis on 6379).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from bench import queries, updater
from bench.environment import BenchServers, quiet_client_logs, settled_memory
from bench.progress import Progress
from bench.results import RESULTS_DIR, Result, table
from bench.scale import Scale, scale_from_env
from bench.workload import random_score
from local_runtime.redis_binaries import SERVER_KINDS, ServerKind, server_binary
from local_runtime.servers import RedisServer
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import create_redis_client
from shared.application.apply import PendingScore
from shared.domain.boards import Board, Window
from shared.domain.events import event_id_for

# A past month whatever today is: the apply script remembers a record time after its clock as "now".
CHURN_BOARD = Window.MONTHLY.parse_period("2001-01")
PARTITIONS = 4
APPLY_SLICE = 2_000  # records per apply call, as the updater sends them for a 10 000-record batch
DAY_MS = 86_400_000
TARGET_BYTES_AT_25M = 80.0
PLAYERS_AT_25M = 25_000_000
REMEMBER_SECONDS = 3_600  # the template's IDEMPOTENCY_WINDOW_SECONDS default

# Per bench scale: (board players, churn updates); the throughput part caps the scale it reuses.
SIZES = {"default": (1_000_000, 2_000_000), "25m": (5_000_000, 10_000_000)}


def player_id(index: int) -> str:
    """A 15-character player id, e.g. player-00012345."""
    return f"player-{index:08d}"


@dataclass(frozen=True)
class MemorySnapshot:
    used: int
    rss: int

    @classmethod
    def take(cls, client: redis.Redis) -> MemorySnapshot:
        info = settled_memory(client)
        return cls(int(info["used_memory"]), int(info["used_memory_rss"]))


@dataclass(frozen=True)
class MemoryFigures:
    players: int
    updates: int
    fresh_used: int  # above the empty server
    fresh_rss: int
    churned_used: int
    churned_rss: int
    board_key_fresh: int  # MEMORY USAGE of the board key
    board_key_churned: int
    remembered_events: int  # event ids held at the end
    remembered_bytes: int  # MEMORY USAGE of the event-id sets
    watermark_bytes: int
    load_seconds: float
    churn_seconds: float

    def per_player(self, bytes_: int) -> float:
        return bytes_ / self.players

    @property
    def bytes_per_remembered_event(self) -> float:
        return self.remembered_bytes / max(1, self.remembered_events)

    @property
    def churned_board_per_player(self) -> float:
        """used_memory after churn, less the event-id sets and watermarks, per player."""
        return (self.churned_used - self.remembered_bytes - self.watermark_bytes) / self.players

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "fresh_used_per_player": round(self.per_player(self.fresh_used), 2),
            "fresh_rss_per_player": round(self.per_player(self.fresh_rss), 2),
            "fresh_fragmentation": round(self.fresh_rss / self.fresh_used, 3),
            "churned_used_per_player": round(self.per_player(self.churned_used), 2),
            "churned_board_used_per_player": round(self.churned_board_per_player, 2),
            "churned_rss_per_player": round(self.per_player(self.churned_rss), 2),
            "churned_fragmentation": round(self.churned_rss / self.churned_used, 3),
            "bytes_per_remembered_event": round(self.bytes_per_remembered_event, 2),
        }


def load_board(client: redis.Redis, board: Board, players: int, rng: random.Random) -> None:
    """Every player once, a random monthly score each, in pipelined 1 000-member ZADDs."""
    pipe = client.pipeline(transaction=False)
    for start in range(0, players, queries.MEMBERS_PER_ZADD):
        members = {
            player_id(i): random_score(rng) for i in range(start, min(players, start + queries.MEMBERS_PER_ZADD))
        }
        pipe.zadd(board.key, members)
        if len(pipe) == queries.ZADDS_PER_PIPELINE:
            pipe.execute()
    pipe.execute()


def churn(url: str, board: Board, players: int, updates: int, rng: random.Random, progress: Progress) -> None:
    """`updates` wins of random players through the production apply script, record times spread
    evenly over the day before the board's end, so the event-id sets end with one window of events."""
    writer = RedisBoardWriter(create_redis_client(url), remember_events_seconds=REMEMBER_SECONDS)
    assert board.end_ms is not None
    day_starts = board.end_ms - DAY_MS - 1
    per_partition = max(1, updates // PARTITIONS)
    offsets = [0] * PARTITIONS
    done, report_every = 0, max(1, updates // 5)
    while done < updates:
        partition = done // APPLY_SLICE % PARTITIONS
        slice_size = min(APPLY_SLICE, updates - done)
        first = offsets[partition]
        scores = []
        for offset in range(first, first + slice_size):
            produced = day_starts + offset * DAY_MS // per_partition
            user = player_id(rng.randrange(players))
            event_id = bytes.fromhex(event_id_for(f"churn-{partition}-{offset}", user))
            scores.append(PendingScore(offset, event_id, user, rng.randint(1, 100), board.ticks_at(produced), produced))
        writer.apply(board, f"bench/score-events-{partition}", scores)
        offsets[partition] += slice_size
        done += slice_size
        if done // report_every != (done - slice_size) // report_every:
            progress.step(f"  churn: {done:,} of {updates:,} updates")


def measure_memory(servers: BenchServers, players: int, updates: int, seed: int, progress: Progress) -> MemoryFigures:
    client = servers.redis_client()
    client.flushall()
    rng = random.Random(seed)
    empty = MemorySnapshot.take(client)
    started = time.perf_counter()
    load_board(client, CHURN_BOARD, players, rng)
    load_seconds = time.perf_counter() - started
    fresh = MemorySnapshot.take(client)
    board_fresh = int(client.memory_usage(CHURN_BOARD.key, samples=0) or 0)
    progress.step(
        f"  loaded {players:,} players in {load_seconds:.1f} s: "
        f"{(fresh.used - empty.used) / players:.1f} B/player used, {(fresh.rss - empty.rss) / players:.1f} B RSS"
    )
    started = time.perf_counter()
    churn(servers.redis.url, CHURN_BOARD, players, updates, rng, progress)
    churn_seconds = time.perf_counter() - started
    churned = MemorySnapshot.take(client)
    events_keys = [applied_events_key(CHURN_BOARD, f"bench/score-events-{p}") for p in range(PARTITIONS)]
    remembered = sum(int(client.zcard(key)) for key in events_keys)
    remembered_bytes = sum(int(client.memory_usage(key, samples=0) or 0) for key in events_keys)
    figures = MemoryFigures(
        players=players,
        updates=updates,
        fresh_used=fresh.used - empty.used,
        fresh_rss=fresh.rss - empty.rss,
        churned_used=churned.used - empty.used,
        churned_rss=churned.rss - empty.rss,
        board_key_fresh=board_fresh,
        board_key_churned=int(client.memory_usage(CHURN_BOARD.key, samples=0) or 0),
        remembered_events=remembered,
        remembered_bytes=remembered_bytes,
        watermark_bytes=int(client.memory_usage(applied_offsets_key(CHURN_BOARD), samples=0) or 0),
        load_seconds=load_seconds,
        churn_seconds=churn_seconds,
    )
    progress.step(
        f"  after {updates:,} updates in {churn_seconds:.1f} s: "
        f"{figures.per_player(figures.churned_used):.1f} B/player used, "
        f"{figures.per_player(figures.churned_rss):.1f} B RSS, {remembered:,} event ids remembered"
    )
    client.flushall()
    return figures


INTERLEAVED_PLAYERS = 200_000
INTERLEAVED_ROUNDS = 40
INTERLEAVED_APPLY_RECORDS = 4_000  # per server per round, in APPLY_SLICE-record calls
INTERLEAVED_READS = 200  # per server per round and per read


@dataclass
class InterleavedSpeed:
    """The same work on both servers in alternating small rounds, so contention hits both alike."""

    apply_records_per_second: dict[str, float]
    reads_per_second: dict[str, dict[str, float]]  # read -> version -> requests/s

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def interleaved_speed(progress: Progress, seed: int, kinds: Sequence[ServerKind] = SERVER_KINDS) -> InterleavedSpeed:
    """apply_scores.lua and the query scripts on every server, one round each in turn (the order
    alternating), on boards of INTERLEAVED_PLAYERS: a like-for-like speed check on a busy machine."""
    workdir = Path(tempfile.mkdtemp(prefix="leaderboard-servers-"))
    started: list[RedisServer] = []
    try:
        for kind in kinds:
            started.append(RedisServer.start(workdir, binary=server_binary({"REDIS_SERVER": kind})))
        versions = [server.binary.version for server in started]
        progress.step(f"interleaved: {', '.join(versions)}, {INTERLEAVED_ROUNDS} rounds")
        clients = [create_redis_client(server.url) for server in started]
        for server in started:
            load_board(redis.Redis(port=server.port), CHURN_BOARD, INTERLEAVED_PLAYERS, random.Random(seed))
        writers = [RedisBoardWriter(client, remember_events_seconds=REMEMBER_SECONDS) for client in clients]
        readers = [RedisBoardReader(client) for client in clients]
        rng = random.Random(seed)
        apply_seconds = [0.0] * len(started)
        read_seconds: dict[str, list[float]] = {"top 10": [0.0] * len(started), "rank ± 4": [0.0] * len(started)}
        assert CHURN_BOARD.end_ms is not None
        produced = CHURN_BOARD.end_ms - DAY_MS
        for round_number in range(INTERLEAVED_ROUNDS):
            first = round_number * INTERLEAVED_APPLY_RECORDS
            records = []
            for offset in range(first, first + INTERLEAVED_APPLY_RECORDS):
                user = player_id(rng.randrange(INTERLEAVED_PLAYERS))
                event_id = bytes.fromhex(event_id_for(f"interleaved-{offset}", user))
                ticks = CHURN_BOARD.ticks_at(produced + offset)
                records.append(PendingScore(offset, event_id, user, rng.randint(1, 100), ticks, produced + offset))
            users = [player_id(rng.randrange(INTERLEAVED_PLAYERS)) for _ in range(INTERLEAVED_READS)]
            order = range(len(started)) if round_number % 2 == 0 else reversed(range(len(started)))
            for index in order:
                began = time.perf_counter()
                for start in range(0, len(records), APPLY_SLICE):
                    writers[index].apply(CHURN_BOARD, "bench/interleaved-0", records[start : start + APPLY_SLICE])
                apply_seconds[index] += time.perf_counter() - began
                began = time.perf_counter()
                for _ in users:
                    readers[index].page(CHURN_BOARD, 0, 10, count_ahead=False)
                read_seconds["top 10"][index] += time.perf_counter() - began
                began = time.perf_counter()
                for user in users:
                    readers[index].around(CHURN_BOARD, user, 4, count_ahead=False)
                read_seconds["rank ± 4"][index] += time.perf_counter() - began
        records_each = INTERLEAVED_ROUNDS * INTERLEAVED_APPLY_RECORDS
        reads_each = INTERLEAVED_ROUNDS * INTERLEAVED_READS
        speed = InterleavedSpeed(
            {version: records_each / seconds for version, seconds in zip(versions, apply_seconds, strict=True)},
            {
                read: {version: reads_each / seconds for version, seconds in zip(versions, times, strict=True)}
                for read, times in read_seconds.items()
            },
        )
        progress.step(
            "interleaved: apply_scores.lua "
            + ", ".join(f"{v} {rate:,.0f} records/s" for v, rate in speed.apply_records_per_second.items())
        )
        return speed
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def throughput_scale(scale: Scale) -> Scale:
    """The scale the updater and query benchmarks run at here: theirs, capped to keep two runs short."""
    return dataclasses.replace(
        scale,
        updater_records_per_size=min(scale.updater_records_per_size, 50_000),
        updater_seconds_per_size=min(scale.updater_seconds_per_size, 10.0),
        naive_records=min(scale.naive_records, 10_000),
        board_memory_sample=min(scale.board_memory_sample, 100_000),
        benchmark_requests=min(scale.benchmark_requests, 100_000),
        benchmark_requests_pipelined=min(scale.benchmark_requests_pipelined, 500_000),
        board_players=min(scale.board_players, 1_000_000),
        query_samples=min(scale.query_samples, 2_000),
    )


@dataclass
class ServerRun:
    kind: ServerKind
    version: str
    memory: MemoryFigures
    updater_rates: dict[str, float]  # window set -> handler records/s at the largest batch
    floor_rates: dict[str, float]  # window set -> apply_scores.lua alone, the same calls
    query_rates: dict[str, float]  # query -> handler requests/s, one client
    # The same work on every server in alternating rounds (interleaved_speed): name -> rate.
    interleaved_rates: dict[str, float] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "server": self.version,
            "memory": self.memory.as_dict(),
            "updater_records_per_second": self.updater_rates,
            "apply_floor_records_per_second": self.floor_rates,
            "query_requests_per_second": self.query_rates,
            "interleaved_per_second": self.interleaved_rates,
        }


def run_server(
    kind: ServerKind, players: int, updates: int, scale: Scale | None, seed: int, progress: Progress
) -> ServerRun:
    binary = server_binary({"REDIS_SERVER": kind})
    progress.step(f"== {binary.version}: memory with {players:,} players, {updates:,} updates")
    servers = BenchServers.start(binary=binary)
    try:
        memory = measure_memory(servers, players, updates, seed, progress)
        updater_rates: dict[str, float] = {}
        floor_rates: dict[str, float] = {}
        query_rates: dict[str, float] = {}
        if scale is not None:
            small = throughput_scale(scale)
            with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                updater_run = updater.run(servers, small, progress, seed)
                servers.redis_client().flushall()
                query_run, _ = queries.run_queries(servers, small, progress, seed)
            for label, rates in updater_run.handler_rates.items():
                largest = max(rates)
                updater_rates[label] = rates[largest]
                floor_rates[label] = updater_run.lua_rates[label][largest]
            for name, durations in query_run.latencies.items():
                if name.endswith("/ handler") and durations:
                    query_rates[name.removesuffix(" / handler")] = len(durations) / sum(durations)
        return ServerRun(kind, binary.version, memory, updater_rates, floor_rates, query_rates)
    finally:
        servers.stop()


def results(runs: Sequence[ServerRun]) -> list[Result]:
    rows: list[Result] = []
    for run in runs:
        memory = run.memory
        label = f"{run.version}, {memory.players:,} players"
        churned_per_player = memory.per_player(memory.churned_used)
        rows.append(
            Result(
                name=f"{label}: the board's used_memory per player after {memory.updates:,} updates",
                value=memory.churned_board_per_player,
                unit="B/player",
                parameters={
                    **memory.as_dict(),
                    "projected_gb_at_25m": round(memory.churned_board_per_player * PLAYERS_AT_25M / 1e9, 2),
                    "note": "used_memory above the empty server, less the event-id sets and watermarks "
                    "(MEMORY USAGE); docs/REDIS.md extrapolates it to 25 M, where issue 14's target of "
                    f"{TARGET_BYTES_AT_25M:.0f} B/player applies: the hash table's share per player is "
                    "larger on a 1 M board",
                },
            )
        )
        rows.append(
            Result(f"{label}: used_memory per player after churn, event ids included", churned_per_player, "B/player")
        )
        rows.append(
            Result(f"{label}: used_memory per player, fresh load", memory.per_player(memory.fresh_used), "B/player")
        )
        rows.append(Result(f"{label}: RSS per player after churn", memory.per_player(memory.churned_rss), "B/player"))
        for window_set, rate in run.updater_rates.items():
            rows.append(
                Result(
                    f"{run.version}: score_updater, {window_set}, largest batch",
                    rate,
                    "records/s",
                    floor=run.floor_rates[window_set],
                    floor_name="apply_scores.lua alone, the same calls",
                )
            )
        for query, rate in run.query_rates.items():
            rows.append(Result(f"{run.version}: query handler {query}, one client", rate, "requests/s"))
        for name, rate in run.interleaved_rates.items():
            unit = "records/s" if name == "apply_scores.lua" else "requests/s"
            rows.append(Result(f"{run.version}: {name}, interleaved with the other server", rate, unit))
    return rows


def side_by_side(runs: Sequence[ServerRun]) -> str:
    """The comparison as a text table: one column per server."""
    lines: list[tuple[str, list[str]]] = [
        ("used_memory B/player, fresh", [f"{r.memory.per_player(r.memory.fresh_used):.1f}" for r in runs]),
        ("used_memory B/player, churned", [f"{r.memory.per_player(r.memory.churned_used):.1f}" for r in runs]),
        ("  of which board B/player", [f"{r.memory.churned_board_per_player:.1f}" for r in runs]),
        ("  remembered event B/event", [f"{r.memory.bytes_per_remembered_event:.1f}" for r in runs]),
        ("RSS B/player, fresh", [f"{r.memory.per_player(r.memory.fresh_rss):.1f}" for r in runs]),
        ("RSS B/player, churned", [f"{r.memory.per_player(r.memory.churned_rss):.1f}" for r in runs]),
        ("fragmentation (RSS/used), fresh", [f"{r.memory.fresh_rss / r.memory.fresh_used:.2f}" for r in runs]),
        ("fragmentation (RSS/used), churned", [f"{r.memory.churned_rss / r.memory.churned_used:.2f}" for r in runs]),
        ("GB at 25 M players (used, churned)", [f"{_at_25m(r):.2f}" for r in runs]),
    ]
    for window_set in runs[0].updater_rates if runs else ():
        lines.append((f"updater rec/s, {window_set}", [f"{r.updater_rates.get(window_set, 0):,.0f}" for r in runs]))
        lines.append(
            (f"  apply_scores.lua alone, {window_set}", [f"{r.floor_rates.get(window_set, 0):,.0f}" for r in runs])
        )
    for query in runs[0].query_rates if runs else ():
        lines.append((f"query req/s, {query}", [f"{r.query_rates.get(query, 0):,.0f}" for r in runs]))
    for name in runs[0].interleaved_rates if runs else ():
        lines.append((f"interleaved {name} /s", [f"{r.interleaved_rates.get(name, 0):,.0f}" for r in runs]))
    width = max(len(name) for name, _ in lines)
    header = " " * width + "".join(f"{r.version:>16}" for r in runs)
    return "\n".join([header, *(name.ljust(width) + "".join(f"{v:>16}" for v in values) for name, values in lines)])


def _at_25m(run: ServerRun) -> float:
    return run.memory.per_player(run.memory.churned_used) * PLAYERS_AT_25M / 1e9


def plot(path: Path, runs: Sequence[ServerRun], title: str) -> Path:
    """Bars: memory per player (used and RSS, fresh and churned) and, when measured, throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates: list[tuple[str, dict[str, float]]] = []
    if runs:
        rates += [
            (f"updater, {k}", {r.version: r.updater_rates.get(k, 0.0) for r in runs}) for k in runs[0].updater_rates
        ]
        rates += [(f"query, {k}", {r.version: r.query_rates.get(k, 0.0) for r in runs}) for k in runs[0].query_rates]
        rates += [
            (f"interleaved, {k}", {r.version: r.interleaved_rates.get(k, 0.0) for r in runs})
            for k in runs[0].interleaved_rates
        ]
    figure, axes = plt.subplots(1, 2 if rates else 1, figsize=(14 if rates else 8, 5.5), squeeze=False)
    left = axes[0][0]
    measures = ["used, fresh", "board, churned", "board + event ids,\nchurned", "RSS, fresh", "RSS, churned"]
    width = 0.8 / max(1, len(runs))
    for index, run in enumerate(runs):
        m = run.memory
        values = [
            m.per_player(m.fresh_used),
            m.churned_board_per_player,
            m.per_player(m.churned_used),
            m.per_player(m.fresh_rss),
            m.per_player(m.churned_rss),
        ]
        positions = [x + index * width for x in range(len(measures))]
        bars = left.bar(positions, values, width, label=run.version)
        left.bar_label(bars, fmt="%.0f", fontsize=7)
    left.axhline(TARGET_BYTES_AT_25M, color="red", linestyle="-.", linewidth=0.8, label="target 80 B/player")
    left.set_xticks([x + width * (len(runs) - 1) / 2 for x in range(len(measures))], measures, fontsize=8)
    left.set_ylabel("bytes per player")
    if runs:
        m = runs[0].memory
        left.set_title(f"memory per player: {m.players:,} players, then {m.updates:,} updates")
    left.legend(fontsize=8)
    if rates:
        right = axes[0][1]
        for index, run in enumerate(runs):
            positions = [x + index * width for x in range(len(rates))]
            bars = right.bar(positions, [values[run.version] for _, values in rates], width, label=run.version)
            right.bar_label(bars, fmt="%.0f", fontsize=7)
        ticks = [x + width * (len(runs) - 1) / 2 for x in range(len(rates))]
        right.set_xticks(ticks, [name for name, _ in rates], rotation=20, ha="right", fontsize=8)
        right.set_yscale("log")
        right.set_ylabel("records/s (updater) or requests/s (query), log")
        right.set_title("throughput: each server in turn, one run")
        right.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def run(scale: Scale, progress: Progress, seed: int, *, kinds: Sequence[ServerKind] = SERVER_KINDS) -> list[ServerRun]:
    players, updates = SIZES.get(scale.name, SIZES["default"])
    runs = [run_server(kind, players, updates, scale, seed, progress) for kind in kinds]
    add_interleaved(runs, interleaved_speed(progress, seed, kinds))
    return runs


def add_interleaved(runs: Sequence[ServerRun], speed: InterleavedSpeed) -> None:
    for server_run in runs:
        rates = {"apply_scores.lua": speed.apply_records_per_second[server_run.version]}
        rates |= {
            f"query script {read}": by_server[server_run.version] for read, by_server in speed.reads_per_second.items()
        }
        server_run.interleaved_rates = rates


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_players, default_updates = SIZES["default"]
    parser.add_argument("--players", type=int, default=default_players)
    parser.add_argument("--updates", type=int, default=default_updates)
    parser.add_argument("--servers", default=",".join(SERVER_KINDS), help="comma-separated: valkey,redis")
    parser.add_argument("--memory-only", action="store_true", help="skip the updater and query throughput")
    parser.add_argument(
        "--interleaved-only", action="store_true", help="only the scripts on both servers in alternating rounds"
    )
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "servers-adhoc.json")
    args = parser.parse_args(argv)
    kinds = [server_binary({"REDIS_SERVER": name}).kind for name in args.servers.split(",")]
    if not 1 <= args.players <= 50_000_000 or not 0 <= args.updates <= 100_000_000:
        parser.error("--players must be 1..50 000 000 and --updates 0..100 000 000")
    quiet_client_logs()
    progress = Progress()
    if args.interleaved_only:
        speed = interleaved_speed(progress, 20_240_601, kinds)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(speed.as_dict(), indent=2) + "\n")
        print(json.dumps(speed.as_dict(), indent=2))
        return 0
    scale = None if args.memory_only else scale_from_env()
    runs = [run_server(kind, args.players, args.updates, scale, 20_240_601, progress) for kind in kinds]
    if scale is not None:
        add_interleaved(runs, interleaved_speed(progress, 20_240_601, kinds))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([r.as_dict() for r in runs], indent=2) + "\n")
    plot(args.json.with_suffix(".png"), runs, f"{' vs '.join(r.version for r in runs)}")
    print(side_by_side(runs))
    print(table(results(runs)))
    print(f"wrote {args.json} and {args.json.with_suffix('.png')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
