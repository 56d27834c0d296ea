"""POST-to-visible delay through the local service (`local_runtime.LocalStack`: API Gateway over
HTTP, the MSK trigger, the three handlers), at a steady offered rate.

The load runs in a child process (the game servers), so it does not share the service's GIL.
Every POST to /v1/scores/batch carries one probe event for a player id used nowhere else; an
observer thread in the child polls the board with a pipelined ZSCORE per pending probe, and the
delay is from just before the POST was sent to the first poll that sees the probe's score.
The floor is the POST's own round trip (the 202 is sent after the broker acknowledged).
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from urllib.parse import urlsplit

import redis

from bench.environment import BenchServers
from bench.progress import Progress
from bench.results import Result, Target, percentile, summary_ms
from bench.scale import Scale
from bench.workload import short_id
from shared.domain.boards import Window
from shared.domain.timestamps import now_ms

POLL_SECONDS = 0.002
SETTLE_SECONDS = 15.0  # after the last POST, how long probes may take to appear before they count as lost


@dataclass
class LoadReport:
    """What the child process measured; plain data so it pickles."""

    delays: list[float] = field(default_factory=list)  # seconds, POST sent -> visible
    post_latencies: list[float] = field(default_factory=list)  # seconds, POST sent -> 202 read
    sent_events: int = 0
    accepted_events: int = 0
    failed_posts: int = 0
    lost_probes: int = 0
    send_seconds: float = 0.0
    last_problem: str = ""


@dataclass
class VisibilityRun:
    results: list[Result] = field(default_factory=list)
    report: LoadReport = field(default_factory=LoadReport)


def offer_load(
    api_url: str,
    api_key: str,
    redis_url: str,
    *,
    rate: int,
    batch: int,
    senders: int,
    seconds: float,
    players: int,
    seed: int,
) -> LoadReport:
    """Runs in the child: POST `rate` events/s in batches of `batch` for `seconds` from `senders` connections
    (each POST has its slot in a fixed schedule: a slow answer delays that sender, not the schedule's
    clock); observe the probes."""
    report = LoadReport()
    pending: dict[str, tuple[str, float]] = {}  # probe id -> (board key, sent at)
    lock = threading.Lock()
    sending_done = threading.Event()
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]

    def observe() -> None:
        client = redis.Redis.from_url(redis_url)
        deadline: float | None = None
        while True:
            with lock:
                waiting = list(pending.items())
            if waiting:
                pipe = client.pipeline(transaction=False)
                for probe, (key, _) in waiting:
                    pipe.zscore(key, probe)
                seen_at = time.perf_counter()
                for (probe, (_, sent_at)), score in zip(waiting, pipe.execute(), strict=True):
                    if score is not None:
                        report.delays.append(seen_at - sent_at)
                        with lock:
                            del pending[probe]
            if sending_done.is_set():
                deadline = deadline or time.monotonic() + SETTLE_SECONDS
                with lock:
                    if not pending or time.monotonic() > deadline:
                        report.lost_probes = len(pending)
                        return
            time.sleep(POLL_SECONDS)

    observer = threading.Thread(target=observe, name="visibility-observer", daemon=True)
    observer.start()
    target = urlsplit(api_url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    headers = {"Content-Type": "application/json", "x-api-key": api_key}
    interval = batch / rate  # between POSTs, over all senders
    posts = int(seconds / interval)
    started = time.perf_counter()

    def send(first: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            for number in range(first, posts, senders):
                pause = started + number * interval - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                occurred_at = now_ms()
                probe = f"probe-{tag}-{number}"
                scores = [
                    {"match_id": f"vis-{tag}-{number}", "user_id": probe, "points": 1, "occurred_at": occurred_at}
                ]
                scores += [
                    {
                        "match_id": f"vis-{tag}-{number}",
                        "user_id": short_id(rng.randrange(players)),
                        "points": rng.randint(1, 100),
                        "occurred_at": occurred_at,
                    }
                    for _ in range(batch - 1)
                ]
                body = json.dumps({"scores": scores})
                sent_at = time.perf_counter()
                with lock:
                    pending[probe] = (Window.MONTHLY.board_at(occurred_at).key, sent_at)
                    report.sent_events += batch
                try:
                    connection.request("POST", "/v1/scores/batch", body=body, headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                except (OSError, http.client.HTTPException) as failure:
                    with lock:
                        report.failed_posts += 1
                        report.last_problem = repr(failure)
                        pending.pop(probe, None)
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=30)
                    continue
                with lock:
                    report.post_latencies.append(time.perf_counter() - sent_at)
                    if response.status == 202:
                        report.accepted_events += batch
                    else:
                        report.failed_posts += 1
                        report.last_problem = f"{response.status} {answer[:200]!r}"
                        pending.pop(probe, None)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,), name=f"sender-{i}", daemon=True) for i in range(senders)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 60)
        report.send_seconds = time.perf_counter() - started
    finally:
        sending_done.set()
        observer.join(SETTLE_SECONDS + 10)
    return report


def run(servers: BenchServers, scale: Scale, progress: Progress, seed: int) -> VisibilityRun:
    from local_runtime.stack import LocalStack

    outcome = VisibilityRun()
    name = f"bench-visibility-{seed}"
    stack = LocalStack(
        workdir=servers.workdir / "visibility",
        api_port=0,
        topic=name,
        consumer_group=name,
        environ=servers.stack_environ(),
    ).start()
    try:
        progress.step(
            f"local service up at {stack.api_url}; offering {scale.visibility_rate:,} events/s "
            f"for {scale.visibility_seconds:.0f} s from a child process"
        )
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            future = pool.submit(
                offer_load,
                stack.api_url,
                stack.api_key,
                stack.redis_url,
                rate=scale.visibility_rate,
                batch=scale.visibility_batch,
                senders=scale.visibility_senders,
                seconds=scale.visibility_seconds,
                players=scale.updater_players,
                seed=seed,
            )
            report = future.result(timeout=scale.visibility_seconds + SETTLE_SECONDS + 60)
        counters = stack.trigger.counters
    finally:
        stack.stop()
    outcome.report = report
    achieved = report.accepted_events / report.send_seconds if report.send_seconds else 0.0
    delays = sorted(report.delays)
    posts = sorted(report.post_latencies)
    parameters = {
        "offered_rate": scale.visibility_rate,
        "achieved_rate": round(achieved),
        "events_per_post": scale.visibility_batch,
        "sender_connections": scale.visibility_senders,
        "seconds": scale.visibility_seconds,
        "probes_seen": len(delays),
        "probes_lost": report.lost_probes,
        "failed_posts": report.failed_posts,
        "last_problem": report.last_problem,
        "poll_interval_ms": POLL_SECONDS * 1000,
        "delay": summary_ms(delays),
        "post_round_trip": summary_ms(posts),
        "trigger": {"batches": counters.batches, "records": counters.records, "failures": counters.failures},
        "observed_via": "pipelined ZSCORE of each pending probe on the board (direct Redis reads)",
    }
    for pct in (50, 99):
        outcome.results.append(
            Result(
                name=f"POST-to-visible, p{pct}, at {scale.visibility_rate / 1000:g} k events/s",
                value=percentile(delays, pct) * 1000,
                unit="ms",
                floor=percentile(posts, pct) * 1000,
                floor_name="the POST's own round trip (202 after broker ack)",
                parameters=parameters,
                targets=[Target("p99 ≤ 1 s", 1000.0, "max")] if pct == 99 else [],
            )
        )
    p50, p99 = percentile(delays, 50) * 1000, percentile(delays, 99) * 1000
    progress.step(
        f"POST-to-visible: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"({len(delays)} probes, {report.lost_probes} lost, achieved {achieved:,.0f} events/s)"
    )
    return outcome
