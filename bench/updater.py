"""score_updater throughput with one window and with four, each next to its floor measured in the same run.

- the real lambda_handler, in-process, on prebuilt `aws:kafka` events of 100, 1 k and 10 k records,
  loaded once with LEADERBOARD_WINDOWS=monthly and once with all four windows; and on 10 k-record
  events whose players are Zipf-skewed;
- its floor: apply_scores.lua alone on the same records. The very apply calls the handler makes
  (same boards, partitions, slices, records) are captured beforehand by the same application code
  with a recording writer, and sent through RedisBoardWriter.apply to a database of their own on the
  same redis-server, event by event right after the handler's, so load on the machine hits both alike;
- Redis calls (round trips: EVALSHA, EVAL, SCRIPT LOAD, WAIT) and Redis commands (those run inside the
  scripts too) per record, from INFO commandstats around each handler call;
- a naive loop, one redis-py ZINCRBY per record, and redis-benchmark ZINCRBY with 50 clients,
  without and with -P 32;
- memory: each board's remembered event ids after the four-window run on 10 k-record events, and a
  sample of players loaded into a board of each window, extrapolated to the seed's scale.

    python -m bench.updater    # this part alone, bounded (a few minutes): its table, bench/results/updater.json
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgpack
import redis
from aws_lambda_powertools.utilities.batch import process_partial_response

from bench import plots
from bench.environment import PARTITIONS, REPO_ROOT, BenchServers, LoadedFunction, quiet_client_logs
from bench.gcclock import GcClock
from bench.machine import server_on_its_own_core
from bench.progress import Progress
from bench.results import RESULTS_DIR, Result, Target, summary_ms, table
from bench.scale import UPDATER_BATCH_SIZES, Scale, scale_from_env
from bench.workload import KafkaEventFactory, short_id
from local_runtime.processes import redis_binary_environ
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.msk_batch import ScoreBatchProcessor, decode_score_record
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.application.apply import ApplyResult, DeadLetter, PendingScore
from shared.domain.boards import Board, BoardSchedule, Window

TOPIC = "score-events"
UPDATER_FUNCTION = "ScoreUpdaterFunction"
NAIVE = "naive per-record ZINCRBY loop (redis-py)"
NAIVE_KEY = "bench:naive"
BENCHMARK_TIMEOUT_SECONDS = 300
NAIVE_CHUNKS = 5
NAIVE_CHUNKS_BEFORE = 3
WINDOW_SETS = {"1 window": "monthly", "4 windows": "daily,weekly,monthly,alltime"}
ZIPF_EXPONENT = 1.0
FLOOR_DB = 1  # the floor's boards, apart from the handler's on database 0
FLOOR_BEFORE_PACKING_DB = 2  # the same calls as the floor was sent before the records were packed
# The floor as issue 14 defined it, kept measurable next to today's: the apply script as it was before
# it took a call's records as one MessagePack argument (ae9e6d2, with the per-player fold), sent the
# seven arguments per record it takes (_FlatArgumentsWriter). redis-py encoding those arguments in
# Python was most of that floor's own Python; today's floor has next to none.
SCRIPT_BEFORE_PACKING = ("ae9e6d2", "shared/adapters/lua/apply_scores.lua")
# 10 k-record events are measured this many times (handler, then its floors) per window set and
# player mix, alternating, so a moment of contention on the machine hits one round; rows report the
# median round.
RATIO_ROUNDS = 3
RATIO_TARGET = 0.9  # issue 14: the handler at 0.9x apply_scores.lua alone on the same calls, or better
ROUND_TRIP_COMMANDS = ("evalsha", "eval", "script|load", "wait")
# The seed's scale: 25 M monthly players and 5 M daily; weekly and all-time are this repository's assumptions.
SEED_PLAYERS = {
    Window.DAILY: 5_000_000,
    Window.WEEKLY: 12_000_000,
    Window.MONTHLY: 25_000_000,
    Window.ALLTIME: 50_000_000,
}
SEED_EVENTS_PER_DAY = 50_000_000


@dataclass
class UpdaterRun:
    results: list[Result] = field(default_factory=list)
    handler_rates: dict[str, dict[int, float]] = field(default_factory=dict)  # window set -> batch size -> records/s
    lua_rates: dict[str, dict[int, float]] = field(default_factory=dict)  # the same, for the floor
    floors: dict[str, float] = field(default_factory=dict)  # name -> records/s
    # "<window set>, <players>" -> the handler's ratio to its floor in each round, on 10 k-record events
    ratio_rounds: dict[str, list[float]] = field(default_factory=dict)
    cpus: str = ""  # how the handler and the Redis server shared the CPUs (bench.machine.server_on_its_own_core)


@dataclass
class Measured:
    records: int = 0
    invocations: int = 0
    handler_seconds: float = 0.0
    floor_seconds: float = 0.0
    floor_calls: int = 0
    board_updates: int = 0
    round_trips: int = 0
    commands: int = 0
    durations: list[float] = field(default_factory=list)
    gc_share: float = 0.0
    boards_after: int = 0
    floor_before_packing_seconds: float | None = None
    # CPU seconds: this process (the handler's threads, or the floor's packing) and redis-server
    handler_cpu: float = 0.0
    handler_redis_cpu: float = 0.0
    floor_cpu: float = 0.0
    floor_redis_cpu: float = 0.0

    @property
    def handler_rate(self) -> float:
        return self.records / self.handler_seconds

    @property
    def floor_rate(self) -> float:
        return self.records / self.floor_seconds

    @property
    def ratio(self) -> float:
        return self.handler_rate / self.floor_rate

    def cpu_per_record(self) -> dict[str, float]:
        """Microseconds of CPU per record, and the ratios they predict: on a saturated machine the
        two processes' CPU adds up; on an idle one the handler's Python overlaps redis-server."""
        per = 1e6 / self.records
        handler_python, handler_redis = self.handler_cpu * per, self.handler_redis_cpu * per
        floor_python, floor_redis = self.floor_cpu * per, self.floor_redis_cpu * per
        return {
            "handler_python_us": round(handler_python, 2),
            "handler_redis_us": round(handler_redis, 2),
            "floor_python_us": round(floor_python, 2),
            "floor_redis_us": round(floor_redis, 2),
            "ratio_if_saturated": round((floor_python + floor_redis) / (handler_python + handler_redis), 3),
            "ratio_if_idle": round((floor_python + floor_redis) / max(handler_python, handler_redis), 3),
        }


ApplyCall = tuple[Board, str, list[PendingScore], str, int | None]  # board, partition, scores, unscoped, expiry


class RecordingWriter:
    """Takes the apply calls the processor makes, so they can be replayed on their own."""

    def __init__(self) -> None:
        self.calls: list[ApplyCall] = []

    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        self.calls.append((board, partition, scores, unscoped_partition, expires_at_ms))
        return ApplyResult(len(scores))


class DiscardedLetters:
    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        return []


def captured_calls(payloads: Sequence[bytes], schedule: BoardSchedule) -> list[list[ApplyCall]]:
    """Per event, the apply calls the updater makes for it (the same code, with a recording writer)."""
    recorder = RecordingWriter()
    processor = ScoreBatchProcessor(recorder, DiscardedLetters(), schedule)
    captured = []
    for payload in payloads:
        event = json.loads(payload)
        recorder.calls = []
        process_partial_response(event, decode_score_record, processor.for_event(event))
        captured.append(recorder.calls)
    return captured


def command_calls(client: redis.Redis) -> dict[str, int]:
    stats: Mapping[str, Mapping[str, Any]] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


def redis_cpu_seconds(client: redis.Redis) -> float:
    """CPU seconds redis-server has used so far (user and system, all its threads)."""
    cpu: Mapping[str, Any] = client.info("cpu")  # type: ignore[assignment]
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def script_before_packing() -> str | None:
    """The apply script as it was before the packing, from this repository's history; None without it."""
    commit, path = SCRIPT_BEFORE_PACKING
    try:
        return subprocess.run(
            ["git", "show", f"{commit}:{path}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def floor_writer(
    servers: BenchServers, settings: Settings, database: int, source: str | None = None
) -> RedisBoardWriter:
    """RedisBoardWriter on its own database of the run's redis-server; with `source`, running that
    apply script instead of the current one."""
    writer = RedisBoardWriter(
        create_redis_client(servers.redis.url.rsplit("/", 1)[0] + f"/{database}"),
        remember_events_seconds=settings.idempotency_window_seconds,
    )
    if source is not None:
        writer = _FlatArgumentsWriter(writer.client, remember_events_seconds=settings.idempotency_window_seconds)
        writer._apply_source = source
        writer._apply = writer.client.register_script(source)
    return writer


class _FlatArgumentsWriter(RedisBoardWriter):
    """The writer for the script from before the packing, which took each record as seven arguments."""

    def _run(self, calls: Sequence[tuple[list[str], list[str | int | bytes]]]) -> list[Any]:
        flat = []
        for keys, arguments in calls:
            *settings, packed = arguments
            assert isinstance(packed, bytes)
            records = msgpack.unpackb(packed, raw=True)
            flat.append((keys, settings + [field for record in records for field in record]))
        return super()._run(flat)


def measure(
    servers: BenchServers,
    handler: LoadedFunction,
    settings: Settings,
    payloads: Sequence[bytes],
    seconds_cap: float,
    old_script: str | None = None,
) -> Measured:
    """The handler on each event, then its floor on the same calls (and, with `old_script`, the floor
    with that apply script too); all from empty boards."""
    client = servers.redis_client()
    client.flushall()  # only ever this run's own redis-server
    captured = captured_calls(payloads, settings.board_schedule())
    floor = floor_writer(servers, settings, FLOOR_DB)
    floor_before_packing = (
        None if old_script is None else floor_writer(servers, settings, FLOOR_BEFORE_PACKING_DB, old_script)
    )
    measured = Measured()
    if floor_before_packing is not None:
        measured.floor_before_packing_seconds = 0.0
    deadline = time.monotonic() + seconds_cap
    with GcClock() as gc_clock:
        for payload, calls in zip(payloads, captured, strict=True):
            # Serialized, as Lambda's runtime receives it; parsed outside the timing, as the runtime does.
            event = json.loads(payload)
            context = handler.context()
            before = command_calls(client)
            redis_cpu = redis_cpu_seconds(client)
            cpu = time.process_time()
            started = time.perf_counter()
            response = handler.handler(event, context)
            elapsed = time.perf_counter() - started
            measured.handler_cpu += time.process_time() - cpu
            measured.handler_redis_cpu += redis_cpu_seconds(client) - redis_cpu
            after = command_calls(client)
            if response.get("batchItemFailures"):
                raise RuntimeError(f"score_updater reported failures on a clean batch: {response}")
            measured.durations.append(elapsed)
            measured.handler_seconds += elapsed
            delta = {name: calls_after - before.get(name, 0) for name, calls_after in after.items()}
            measured.round_trips += sum(delta.get(name, 0) for name in ROUND_TRIP_COMMANDS)
            measured.commands += sum(count for name, count in delta.items() if name != "info")
            measured.records += sum(len(records) for records in event["records"].values())
            measured.invocations += 1

            redis_cpu = redis_cpu_seconds(client)
            cpu = time.process_time()
            started = time.perf_counter()
            for board, partition, scores, unscoped, expires_at in calls:
                floor.apply(board, partition, scores, unscoped_partition=unscoped, expires_at_ms=expires_at)
            measured.floor_seconds += time.perf_counter() - started
            measured.floor_cpu += time.process_time() - cpu
            measured.floor_redis_cpu += redis_cpu_seconds(client) - redis_cpu
            if floor_before_packing is not None and measured.floor_before_packing_seconds is not None:
                started = time.perf_counter()
                for board, partition, scores, unscoped, expires_at in calls:
                    floor_before_packing.apply(
                        board, partition, scores, unscoped_partition=unscoped, expires_at_ms=expires_at
                    )
                measured.floor_before_packing_seconds += time.perf_counter() - started
            measured.floor_calls += len(calls)
            measured.board_updates += sum(len(scores) for _, _, scores, _, _ in calls)
            if time.monotonic() > deadline and measured.invocations >= 3:
                break
        measured.gc_share = gc_clock.share_of(measured.handler_seconds)
    measured.boards_after = sum(1 for _ in client.scan_iter(match="lb:{*}", count=1000))
    return measured


def remembered_event_memory(client: redis.Redis) -> dict[Window, tuple[int, int]]:
    """Per window: (bytes, event ids) of the remembered event ids on database 0, all its boards and partitions."""
    found: dict[Window, tuple[int, int]] = {}
    for raw in client.scan_iter(match="lb:{*}:events:*", count=1000):
        key = raw.decode()
        window = Window(key[len("lb:{") : key.index(":", len("lb:{"))])
        size, events = found.get(window, (0, 0))
        found[window] = (size + int(client.memory_usage(key, samples=0) or 0), events + int(client.zcard(key)))
    return found


def run(servers: BenchServers, scale: Scale, progress: Progress, seed: int) -> UpdaterRun:
    outcome = UpdaterRun()
    rng = random.Random(seed)
    started_ms = time.time_ns() // 1_000_000
    client = servers.redis_client()

    # The naive loop is one round trip per call, so a moment of contention moves it a lot: it runs in
    # chunks before and after the handler measurements, and the median chunk is the floor.
    chunk = max(1, scale.naive_records // NAIVE_CHUNKS)
    naive_chunks = [_naive_loop(client, chunk, scale.updater_players, rng) for _ in range(NAIVE_CHUNKS_BEFORE)]
    progress.step(
        f"updater floor: naive ZINCRBY loop, {NAIVE_CHUNKS_BEFORE} x {chunk:,} calls: "
        + ", ".join(f"{rate:,.0f}" for rate in naive_chunks)
        + " records/s"
    )
    benchmark_rows = [_redis_benchmark_row(servers, scale, pipeline, outcome, progress) for pipeline in (1, 32)]

    workloads: list[tuple[int, str, list[bytes]]] = []
    for size in UPDATER_BATCH_SIZES:
        factory = KafkaEventFactory(TOPIC, PARTITIONS, scale.updater_players, rng, started_ms)
        count = max(3, scale.updater_records_per_size // size)
        workloads.append((size, "uniform", [json.dumps(factory.event(size)).encode() for _ in range(count)]))
    zipf = KafkaEventFactory(TOPIC, PARTITIONS, scale.updater_players, rng, started_ms, zipf_exponent=ZIPF_EXPONENT)
    count = max(3, scale.updater_records_per_size // UPDATER_BATCH_SIZES[-1])
    workloads.append(
        (
            UPDATER_BATCH_SIZES[-1],
            "zipf",
            [json.dumps(zipf.event(UPDATER_BATCH_SIZES[-1])).encode() for _ in range(count)],
        )
    )
    progress.step(f"updater: built {sum(len(events) for _, _, events in workloads)} events")

    rows: list[Result] = []
    event_memory: dict[Window, tuple[int, int]] = {}
    old_script = script_before_packing()
    if old_script is None:
        progress.step(f"updater: no git history for {SCRIPT_BEFORE_PACKING}: the floor before the packing is left out")
    largest = UPDATER_BATCH_SIZES[-1]
    for label, windows in WINDOW_SETS.items():
        overrides = {"LEADERBOARD_WINDOWS": windows}
        handler = servers.load_function(UPDATER_FUNCTION, TOPIC, overrides)
        settings = Settings.from_env(servers.function_environment(UPDATER_FUNCTION, TOPIC, overrides))
        rounds: dict[tuple[int, str], list[Measured]] = {}
        with server_on_its_own_core(servers.redis.pid) as cpus:
            outcome.cpus = cpus
            for round_number in range(RATIO_ROUNDS):
                for size, players, payloads in workloads:
                    if size != largest and round_number > 0:
                        continue  # the smaller events are measured once
                    measured = measure(
                        servers,
                        handler,
                        settings,
                        payloads,
                        scale.updater_seconds_per_size,
                        old_script if size == largest else None,
                    )
                    rounds.setdefault((size, players), []).append(measured)
                    if label == "4 windows" and players == "uniform" and size == largest and round_number == 0:
                        event_memory = remembered_event_memory(client)
                    progress.step(
                        f"score_updater, {label}, {measured.invocations} x {size:,}-record events ({players})"
                        + (f", round {round_number + 1} of {RATIO_ROUNDS}" if size == largest else "")
                        + f": {measured.handler_rate:,.0f} records/s, floor {measured.floor_rate:,.0f} "
                        f"({measured.ratio:.2f}x), {measured.round_trips / measured.records:.4f} Redis calls/record"
                    )
        shared_cpus: dict[str, Measured] = {}
        for size, players, payloads in workloads:
            if size == largest:
                shared_cpus[players] = measure(servers, handler, settings, payloads, scale.updater_seconds_per_size)
                progress.step(
                    f"score_updater, {label}, {size:,}-record events ({players}), the CPUs shared with Redis: "
                    f"{shared_cpus[players].ratio:.2f}x its floor"
                )
        for (size, players), measurements in rounds.items():
            typical = median_round(measurements)
            if players == "uniform":
                outcome.handler_rates.setdefault(label, {})[size] = typical.handler_rate
                outcome.lua_rates.setdefault(label, {})[size] = typical.floor_rate
            if size == largest:
                outcome.ratio_rounds[f"{label}, {players}"] = [m.ratio for m in measurements]
            rows += _throughput_rows(
                label, windows, size, players, typical, scale, measurements, outcome.cpus, shared_cpus.get(players)
            )
    client.flushall()

    naive_chunks += [
        _naive_loop(client, chunk, scale.updater_players, rng) for _ in range(NAIVE_CHUNKS - NAIVE_CHUNKS_BEFORE)
    ]
    naive_rate = statistics.median(naive_chunks)
    outcome.floors[NAIVE] = naive_rate
    progress.step(
        f"updater floor: naive ZINCRBY loop, median of {len(naive_chunks)} chunks of {chunk:,} calls: "
        f"{naive_rate:,.0f} records/s (chunks: {', '.join(f'{rate:,.0f}' for rate in naive_chunks)})"
    )
    for row in rows:
        # The naive loop's records/s for these records: one ZINCRBY per board each counts on.
        naive_records = naive_rate / row.parameters["board_updates_per_record"]
        row.parameters["vs_naive_loop"] = round(row.value / naive_records, 2)
        if row.name.startswith("score_updater") and row.parameters["batch_size"] == UPDATER_BATCH_SIZES[-1]:
            row.targets.append(Target(f"≥ 5x naive loop (≥ {5 * naive_records:,.0f}/s)", 5 * naive_records, "min"))
    naive_row = Result(
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
            "note": "the floor the updater must beat by 5x, as one ZINCRBY per board update",
        },
    )
    outcome.results = [*rows, naive_row, *benchmark_rows]
    outcome.results += _event_memory_rows(event_memory, servers)
    outcome.results += board_memory(servers, scale, progress, rng)
    return outcome


def median_round(measurements: Sequence[Measured]) -> Measured:
    """The round whose handler-to-floor ratio is the median (the lower middle one of an even count)."""
    ordered = sorted(measurements, key=lambda measured: measured.ratio)
    return ordered[(len(ordered) - 1) // 2]


def _throughput_rows(
    label: str,
    windows: str,
    size: int,
    players: str,
    measured: Measured,
    scale: Scale,
    rounds: Sequence[Measured] = (),
    cpus: str = "",
    with_cpus_shared: Measured | None = None,
) -> list[Result]:
    workload = f"{size:,}-record events" + (
        "" if players == "uniform" else f", Zipf-skewed players (s = {ZIPF_EXPONENT:g})"
    )
    floor_name = f"apply_scores.lua alone, the same calls ({label})"
    common = {
        "windows": windows,
        "batch_size": size,
        "players": players,
        "player_pool": scale.updater_players,
        "partitions": PARTITIONS,
        "invocations": measured.invocations,
        "records": measured.records,
        "board_updates_per_record": round(measured.board_updates / measured.records, 3),
        "boards_written": measured.boards_after,
    }
    return [
        Result(
            name=f"score_updater handler, {label}, {workload}",
            value=measured.handler_rate,
            unit="records/s",
            floor=measured.floor_rate,
            floor_name=floor_name,
            parameters={
                **common,
                "redis_calls_per_record": round(measured.round_trips / measured.records, 5),
                "redis_commands_per_record": round(measured.commands / measured.records, 2),
                "redis_calls": "EVALSHA, EVAL, SCRIPT LOAD and WAIT sent (round trips); commands include those the "
                "scripts ran",
                "event_parse": "json.loads before each call, outside the timing (Lambda's runtime does it)",
                "gc_share_of_handler_time": round(measured.gc_share, 3),
                "invocation_latency": summary_ms(measured.durations),
                "cpu_per_record": measured.cpu_per_record(),
                **({"cpus": cpus} if cpus else {}),
                **(
                    {
                        "ratio_with_cpus_shared": round(with_cpus_shared.ratio, 3),
                        "cpus_shared_note": "one more round with the Redis server and the handler on either CPU: "
                        "the handler's threads then preempt Redis mid-script, which never happens in AWS",
                    }
                    if with_cpus_shared is not None
                    else {}
                ),
                **(
                    {
                        "round_ratios": [round(m.ratio, 3) for m in rounds],
                        "statistic": f"the median of {len(rounds)} rounds (this row is that round)",
                    }
                    if len(rounds) > 1
                    else {}
                ),
            },
            targets=[Target(f"≥ {RATIO_TARGET:g}x apply_scores.lua alone", RATIO_TARGET, "min", on="ratio")]
            if size == UPDATER_BATCH_SIZES[-1]
            else [],
        ),
        Result(
            name=f"apply_scores.lua alone, {label}, the calls of {workload}",
            value=measured.floor_rate,
            unit="records/s",
            parameters={
                **common,
                "calls": measured.floor_calls,
                "redis_calls_per_record": round(measured.floor_calls / measured.records, 5),
                "note": "the handler's apply calls, captured beforehand and sent through RedisBoardWriter.apply "
                "alone, to another database of the same redis-server, right after each handler call",
            },
        ),
        *(
            [
                Result(
                    name=f"apply_scores.lua before the packing (seven arguments per record), {label}, "
                    f"the calls of {workload}",
                    value=measured.records / measured.floor_before_packing_seconds,
                    unit="records/s",
                    floor=measured.floor_rate,
                    floor_name=floor_name,
                    parameters={
                        **common,
                        "script": f"{SCRIPT_BEFORE_PACKING[1]} at commit {SCRIPT_BEFORE_PACKING[0]}",
                        "note": "the floor as issue 14 measured it: the same calls, each record sent as seven "
                        "arguments, through the apply script from before the packing, right after the current "
                        "script's floor; ratio = this rate / the current script's",
                        "handler_ratio_to_this": round(
                            measured.handler_rate / (measured.records / measured.floor_before_packing_seconds), 3
                        ),
                    },
                )
            ]
            if measured.floor_before_packing_seconds
            else []
        ),
    ]


def _event_memory_rows(memory: Mapping[Window, tuple[int, int]], servers: BenchServers) -> list[Result]:
    window_ms = (
        Settings.from_env(servers.function_environment(UPDATER_FUNCTION, TOPIC)).idempotency_window_seconds * 1000
    )
    remembered_at_average_rate = SEED_EVENTS_PER_DAY * (window_ms + 300_000) // 86_400_000
    rows = []
    for window, (size, events) in sorted(memory.items()):
        per_event = size / events
        rows.append(
            Result(
                name=f"remembered event ids, {window} boards",
                value=per_event,
                unit="B/event",
                parameters={
                    "events": events,
                    "bytes": size,
                    "how": "MEMORY USAGE SAMPLES 0 of every <board>:events:<partition> key after the four-window "
                    "run on 10 k-record events, divided by their ZCARD",
                    "seed_scale_events_remembered": remembered_at_average_rate,
                    "seed_scale_bytes": round(per_event * remembered_at_average_rate),
                    "seed_scale": f"{SEED_EVENTS_PER_DAY:,} events a day at the average rate, remembered for the "
                    f"window ({window_ms // 60_000} min) plus the 5 min clock margin, on one board of this window",
                },
            )
        )
    return rows


def board_memory(servers: BenchServers, scale: Scale, progress: Progress, rng: random.Random) -> list[Result]:
    """A sample of players with 9-character ids loaded into one board of each window, scores from
    that window's codec; bytes per player extrapolated to the seed's players per window."""
    client = servers.redis_client()
    client.flushall()
    sample = scale.board_memory_sample
    now = time.time_ns() // 1_000_000
    rows = []
    for window in Window:
        board = window.current(now)
        before = int(client.info("memory")["used_memory"])
        for start in range(0, sample, 10_000):
            mapping = {
                short_id(index): board.codec.encode(rng.randrange(100_000), rng.randrange(board.ticks_at(now) + 1))
                for index in range(start, min(sample, start + 10_000))
            }
            client.zadd(board.key, mapping)  # type: ignore[arg-type]
        grown = int(client.info("memory")["used_memory"]) - before
        usage = int(client.memory_usage(board.key, samples=0) or 0)
        players = SEED_PLAYERS[window]
        rows.append(
            Result(
                name=f"Redis memory per player, {window} board, {sample:,} players",
                value=grown / sample,
                unit="B/player",
                parameters={
                    "players": sample,
                    "id": "9 characters (p00012345)",
                    "used_memory_growth": grown,
                    "memory_usage_samples_0": usage,
                    "seed_scale_players": players,
                    "seed_scale_bytes": round(grown / sample * players),
                    "seed_scale": "25 M monthly and 5 M daily players from the seed; 12 M weekly and 50 M all-time "
                    "are assumptions (weekly between the two; all time twice the monthly after churn)",
                },
            )
        )
        progress.step(
            f"memory: {window} board of {sample:,} players: {grown / sample:.0f} B/player, "
            f"{grown / sample * players / 1e9:.2f} GB at {players:,}"
        )
    client.flushall()
    return rows


def _naive_loop(client: redis.Redis, count: int, players: int, rng: random.Random) -> float:
    pairs = [(short_id(rng.randrange(players)), rng.randint(1, 100)) for _ in range(count)]
    zincrby = client.zincrby
    started = time.perf_counter()
    for user_id, points in pairs:
        zincrby(NAIVE_KEY, points, user_id)
    return count / (time.perf_counter() - started)


def _redis_benchmark_row(
    servers: BenchServers, scale: Scale, pipeline: int, outcome: UpdaterRun, progress: Progress
) -> Result:
    requests = scale.benchmark_requests if pipeline == 1 else scale.benchmark_requests_pipelined
    rate, latency = _redis_benchmark(servers, requests, pipeline)
    name = f"redis-benchmark ZINCRBY -c 50 -P {pipeline}"
    outcome.floors[name] = rate
    progress.step(f"updater floor: {name}, {requests:,} requests: {rate:,.0f} ops/s")
    return Result(
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
            "design_reference": "~24 k/s" if pipeline == 1 else "~109 k/s",
        },
    )


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


def main(seed: int = 20_240_601) -> int:
    """This part of the suite alone: the table on stdout, the rows in bench/results/updater.json."""
    scale = scale_from_env()
    progress = Progress()
    quiet_client_logs()
    # With metrics switched off (as `make run` does) Powertools still warns about empty flushes.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started_at = datetime.now(UTC)
    servers = BenchServers.start()
    try:
        # Handlers' Powertools metrics (switched off, as under `make run`) would still print to stdout.
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            outcome = run(servers, scale, progress, seed)
    finally:
        servers.stop()
    document = {
        "scale": scale.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
        "results": [result.as_dict() for result in outcome.results],
    }
    if outcome.ratio_rounds:
        plot = plots.floor_ratios(
            RESULTS_DIR / "updater_floor_ratio.png",
            outcome.ratio_rounds,
            RATIO_TARGET,
            f"score_updater against its Lua floor, 10 k-record events ({started_at:%Y-%m-%d})",
        )
        document["plots"] = [plot.name]
    path = RESULTS_DIR / "updater.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(outcome.results))
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
