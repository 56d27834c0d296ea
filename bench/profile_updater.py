"""Where the updater's time goes against its Lua floor: a quick, repeatable profile of one workload.

Starts its own redis-server on a free loopback port (pinned to one CPU and this process to the
others, as bench/updater.py does; --shared-cpus leaves both on every CPU), builds 10 k-record `aws:kafka` events
(uniform or Zipf-skewed players), and runs the real `lambda_handler` on them, each followed by its
floor (the same apply calls, captured beforehand, through RedisBoardWriter.apply alone), as
bench/updater.py does, in alternating rounds; prints each round's ratio and their median. With
--profile, cProfile of the handler alone (its main thread; the apply threads are not traced by
cProfile), sorted by own time.

    python -m bench.profile_updater [--windows monthly] [--zipf] [--rounds 5] [--profile] [--shared-cpus]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import redis

from bench.environment import PARTITIONS, BenchServers, quiet_client_logs
from bench.machine import server_on_its_own_core
from bench.updater import FLOOR_DB, TOPIC, UPDATER_FUNCTION, captured_calls
from bench.workload import KafkaEventFactory
from local_runtime.servers import RedisServer
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings

MAX_ROUNDS = 50
ROUND_SECONDS_CAP = 60.0


def _script_usec(client: redis.Redis) -> int:
    """Microseconds redis-server has spent running scripts (EVALSHA and EVAL), all databases."""
    stats: dict[str, dict[str, Any]] = client.info("commandstats")  # type: ignore[assignment]
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("usec", 0)) for name in ("evalsha", "eval"))


class _RedisOnly(BenchServers):
    """BenchServers with only its redis-server: the updater's handler needs no broker here."""

    def stop(self, *, keep_logs: bool = False) -> None:
        self.redis.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="monthly", help="LEADERBOARD_WINDOWS, e.g. daily,weekly,monthly,alltime")
    parser.add_argument("--zipf", action="store_true", help="Zipf-skewed players (s = 1) instead of uniform")
    parser.add_argument("--rounds", type=int, default=5, help=f"handler-then-floor rounds (at most {MAX_ROUNDS})")
    parser.add_argument("--events", type=int, default=4, help="10 k-record events per round")
    parser.add_argument("--profile", action="store_true", help="cProfile the handler in one more round")
    parser.add_argument(
        "--shared-cpus", action="store_true", help="leave the Redis server and the handler on either CPU (not pinned)"
    )
    options = parser.parse_args()
    rounds = max(1, min(options.rounds, MAX_ROUNDS))
    quiet_client_logs()
    warnings.filterwarnings("ignore", message="No application metrics to publish")

    workdir = Path(tempfile.mkdtemp(prefix="leaderboard-profile-"))
    # No broker or SQS is reached on clean batches: their endpoints only have to be named.
    kafka: Any = SimpleNamespace(bootstrap="127.0.0.1:9")
    moto: Any = SimpleNamespace(endpoint_url="http://127.0.0.1:9")
    servers = _RedisOnly(workdir, RedisServer.start(workdir), kafka, moto)
    try:
        overrides = {"LEADERBOARD_WINDOWS": options.windows}
        handler = servers.load_function(UPDATER_FUNCTION, TOPIC, overrides)
        settings = Settings.from_env(servers.function_environment(UPDATER_FUNCTION, TOPIC, overrides))
        rng = random.Random(20_240_601)
        factory = KafkaEventFactory(
            TOPIC, PARTITIONS, 1_000_000, rng, time.time_ns() // 1_000_000, zipf_exponent=1.0 if options.zipf else None
        )
        client = servers.redis_client()
        floor = RedisBoardWriter(
            create_redis_client(servers.redis.url.rsplit("/", 1)[0] + f"/{FLOOR_DB}"),
            remember_events_seconds=settings.idempotency_window_seconds,
        )
        ratios = []
        pinning = contextlib.nullcontext("shared") if options.shared_cpus else server_on_its_own_core(servers.redis.pid)
        with pinning as cpus, open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            print(f"CPUs: {cpus}", file=sys.stderr)
            for round_number in range(rounds + (1 if options.profile else 0)):
                client.flushall()  # only ever this script's own redis-server
                payloads = [json.dumps(factory.event(10_000)).encode() for _ in range(options.events)]
                captured = captured_calls(payloads, settings.board_schedule())
                handler_seconds = floor_seconds = handler_cpu = floor_cpu = 0.0
                handler_redis = floor_redis = 0
                profiler = cProfile.Profile() if round_number == rounds else None
                deadline = time.monotonic() + ROUND_SECONDS_CAP
                for payload, calls in zip(payloads, captured, strict=True):
                    event = json.loads(payload)
                    usec_before = _script_usec(client)
                    cpu_before = time.process_time()
                    started = time.perf_counter()
                    if profiler:
                        profiler.enable()
                    handler.handler(event, handler.context())
                    if profiler:
                        profiler.disable()
                    handler_seconds += time.perf_counter() - started
                    handler_cpu += time.process_time() - cpu_before
                    handler_redis += _script_usec(client) - usec_before
                    usec_before = _script_usec(client)
                    cpu_before = time.process_time()
                    started = time.perf_counter()
                    for board, partition, scores, unscoped, expires_at in calls:
                        floor.apply(board, partition, scores, unscoped_partition=unscoped, expires_at_ms=expires_at)
                    floor_seconds += time.perf_counter() - started
                    floor_cpu += time.process_time() - cpu_before
                    floor_redis += _script_usec(client) - usec_before
                    if time.monotonic() > deadline:
                        break
                if profiler:
                    text = io.StringIO()
                    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
                    print(text.getvalue(), file=sys.stderr)
                else:
                    ratios.append(floor_seconds / handler_seconds)
                    print(
                        f"round {round_number + 1}: handler {handler_seconds:.3f} s, floor {floor_seconds:.3f} s, "
                        f"ratio {ratios[-1]:.2f}x; Python CPU {handler_cpu:.3f} s and {floor_cpu:.3f} s, "
                        f"Redis running scripts {handler_redis / 1e6:.3f} s and {floor_redis / 1e6:.3f} s",
                        file=sys.stderr,
                    )
        print(f"median ratio over {len(ratios)} rounds: {statistics.median(ratios):.2f}x", file=sys.stderr)
    finally:
        servers.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
