"""Push delay through the local service: from a score being applied to the board to the `top`
message that shows it arriving at a `websockets` client subscribed at ws://.../v1/live, while
game servers post at a steady rate (2 k events/s by default).

    python -m bench.push    # this part alone (about a minute): its table, bench/results/push.json

The load runs in a child process, as in bench/visibility.py. Every PROBE_EVERY-th POST carries a
probe: a player id used nowhere else with the largest points one event may carry and an
`occurred_at` earlier than every probe before it, so it reaches the top of the monthly board
(equal points rank by who reached them first). An observer polls the probes' scores in Redis
(applied), the client records when a pushed top first lists each probe (pushed). The notifier
pushes a board at most once per second, so the delay spreads over 0..1 s plus the path.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import sys
import threading
import time
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import redis

from bench.environment import BenchServers, quiet_client_logs
from bench.progress import Progress
from bench.results import RESULTS_DIR, Result, Target, percentile, summary_ms, table
from bench.scale import Scale, scale_from_env
from bench.workload import short_id
from shared.domain.boards import Window
from shared.domain.timestamps import now_ms

if TYPE_CHECKING:
    from local_runtime.stack import RunningStack

PROBE_EVERY = 5  # POSTs: at 100 events per POST and 2 k events/s, four probes a second
PROBE_POINTS = 10_000  # MAX_POINTS_PER_EVENT's default: above anything random players reach here
POLL_SECONDS = 0.002
SETTLE_SECONDS = 10.0


@dataclass
class PushReport:
    applied_to_push: list[float] = field(default_factory=list)  # seconds
    post_to_push: list[float] = field(default_factory=list)
    probes: int = 0
    never_pushed: int = 0
    top_messages: int = 0
    accepted_events: int = 0
    failed_posts: int = 0
    send_seconds: float = 0.0
    last_problem: str = ""


def offer_load_and_listen(
    api_url: str, live_url: str, api_key: str, redis_url: str, *, rate: int, batch: int, senders: int, seconds: float,
    players: int, seed: int,
) -> PushReport:  # fmt: skip
    from websockets.sync.client import connect

    report = PushReport()
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:8]
    lock = threading.Lock()
    sent: dict[str, float] = {}
    applied: dict[str, float] = {}
    pushed: dict[str, float] = {}
    done = threading.Event()
    board_key = Window.MONTHLY.board_at(now_ms()).key

    ws = connect(live_url, open_timeout=10, max_size=None)
    ws.send(json.dumps({"action": "subscribe", "window": "monthly"}))

    def listen() -> None:
        while not done.is_set():
            try:
                message = json.loads(ws.recv(timeout=0.5))
            except TimeoutError:
                continue
            except Exception:
                return
            arrived = time.perf_counter()
            if message.get("type") != "top":
                continue
            with lock:
                report.top_messages += 1
                for entry in message["entries"]:
                    if entry["user_id"] in sent and entry["user_id"] not in pushed:
                        pushed[entry["user_id"]] = arrived

    def observe() -> None:
        client = redis.Redis.from_url(redis_url)
        while not done.is_set():
            with lock:
                waiting = [probe for probe in sent if probe not in applied]
            if waiting:
                pipe = client.pipeline(transaction=False)
                for probe in waiting:
                    pipe.zscore(board_key, probe)
                seen_at = time.perf_counter()
                with lock:
                    for probe, score in zip(waiting, pipe.execute(), strict=True):
                        if score is not None:
                            applied[probe] = seen_at
            time.sleep(POLL_SECONDS)

    helpers = [threading.Thread(target=listen, daemon=True), threading.Thread(target=observe, daemon=True)]
    for helper in helpers:
        helper.start()

    target = urlsplit(api_url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    headers = {"Content-Type": "application/json", "x-api-key": api_key}
    interval = batch / rate
    posts = int(seconds / interval)
    started = time.perf_counter()
    origin_ms = now_ms()

    def send(first: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            for number in range(first, posts, senders):
                pause = started + number * interval - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                occurred_at = now_ms()
                scores = [
                    {
                        "match_id": f"push-{tag}-{number}",
                        "user_id": short_id(rng.randrange(players)),
                        "points": rng.randint(1, 100),
                        "occurred_at": occurred_at,
                    }
                    for _ in range(batch)
                ]
                probe = None
                if number % PROBE_EVERY == 0:
                    probe = f"probe-{tag}-{number}"
                    # Earlier than every probe before it: it ranks first among equal points.
                    scores[0] = {
                        "match_id": f"push-{tag}-{number}",
                        "user_id": probe,
                        "points": PROBE_POINTS,
                        "occurred_at": origin_ms - 2000 * (number // PROBE_EVERY + 1),
                    }
                sent_at = time.perf_counter()
                try:
                    connection.request("POST", "/v1/scores/batch", body=json.dumps({"scores": scores}), headers=headers)
                    response = connection.getresponse()
                    answer = response.read()
                except (OSError, http.client.HTTPException) as failure:
                    with lock:
                        report.failed_posts += 1
                        report.last_problem = repr(failure)
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=30)
                    continue
                with lock:
                    if response.status == 202:
                        report.accepted_events += batch
                        if probe is not None:
                            sent[probe] = sent_at
                    else:
                        report.failed_posts += 1
                        report.last_problem = f"{response.status} {answer[:200]!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    report.send_seconds = time.perf_counter() - started
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        with lock:
            if all(probe in pushed for probe in sent):
                break
        time.sleep(0.05)
    done.set()
    for helper in helpers:
        helper.join(5)
    ws.close()
    with lock:
        report.probes = len(sent)
        for probe, sent_at in sent.items():
            if probe not in pushed:
                report.never_pushed += 1
                continue
            report.post_to_push.append(pushed[probe] - sent_at)
            if probe in applied:
                report.applied_to_push.append(max(0.0, pushed[probe] - applied[probe]))
    return report


FAN_OUT_POSTS = 300


def fan_out_cost(stack: RunningStack) -> list[float]:
    """Seconds per PostToConnection as the notifier sends it (boto3 client, one connection at a
    time): the per-connection cost of fanning a message out with API Gateway's management API."""
    from websockets.sync.client import connect

    from shared.adapters.live_push import api_gateway_push

    push = api_gateway_push(stack.local_environment["LIVE_ENDPOINT_URL"], "us-east-1")
    message = json.dumps({"type": "top", "window": "monthly", "period": "x", "entries": []}).encode()
    with connect(stack.live_url, open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe", "window": "monthly"}))
        ws.recv(timeout=10)
        # The connection id is the one the local gateway holds for this client.
        (connection_id,) = stack.live.open_connections()
        timings = []
        for _ in range(FAN_OUT_POSTS):
            started = time.perf_counter()
            push.send(connection_id, message)
            timings.append(time.perf_counter() - started)
            ws.recv(timeout=10)
    return timings


@dataclass
class PushRun:
    results: list[Result] = field(default_factory=list)
    report: PushReport = field(default_factory=PushReport)


def run(servers: BenchServers, scale: Scale, progress: Progress, seed: int) -> PushRun:
    from local_runtime.stack import LocalStack

    outcome = PushRun()
    name = f"bench-push-{seed}"
    stack = LocalStack(
        workdir=servers.workdir / "push",
        api_port=0,
        topic=name,
        consumer_group=name,
        environ=servers.stack_environ(),
    ).start()
    try:
        progress.step(
            f"local service up, live push at {stack.live_url}; offering {scale.visibility_rate:,} events/s "
            f"for {scale.visibility_seconds:.0f} s from a child process"
        )
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            future = pool.submit(
                offer_load_and_listen,
                stack.api_url,
                stack.live_url,
                stack.api_key,
                stack.redis_url,
                rate=scale.visibility_rate,
                batch=scale.visibility_batch,
                senders=scale.visibility_senders,
                seconds=scale.visibility_seconds,
                players=scale.updater_players,
                seed=seed,
            )
            report = future.result(timeout=scale.visibility_seconds + SETTLE_SECONDS + 90)
        post_seconds = fan_out_cost(stack)
        notifier = stack.notifier_trigger
        invocations, failures = notifier.invocations, notifier.failures
    finally:
        stack.stop()
    outcome.report = report
    delays = sorted(report.applied_to_push)
    achieved = report.accepted_events / report.send_seconds if report.send_seconds else 0.0
    parameters = {
        "offered_rate": scale.visibility_rate,
        "achieved_rate": round(achieved),
        "seconds": scale.visibility_seconds,
        "probes": report.probes,
        "probes_never_pushed": report.never_pushed,
        "top_messages": report.top_messages,
        "failed_posts": report.failed_posts,
        "last_problem": report.last_problem,
        "applied_to_push": summary_ms(delays),
        "post_to_push": summary_ms(sorted(report.post_to_push)),
        "notifier": {"invocations": invocations, "failures": failures},
        "push_interval_ms": 1000,
        "post_to_connection": summary_ms(sorted(post_seconds)),
    }
    for pct in (50, 95, 100):
        label = "max" if pct == 100 else f"p{pct}"
        outcome.results.append(
            Result(
                name=f"applied-to-push, {label}, at {scale.visibility_rate / 1000:g} k events/s",
                value=percentile(delays, pct) * 1000,
                unit="ms",
                parameters=parameters,
                targets=[Target("a push within 1 s", 1000.0, "max")] if pct == 95 else [],
            )
        )
    posts = sorted(post_seconds)
    outcome.results.append(
        Result(
            name="fan-out: one PostToConnection (boto3 -> local management API), p50",
            value=percentile(posts, 50) * 1000,
            unit="ms",
            parameters={"posts": len(posts), "post_to_connection": summary_ms(posts)},
        )
    )
    progress.step(
        f"PostToConnection: p50 {percentile(posts, 50) * 1000:.2f} ms, p99 {percentile(posts, 99) * 1000:.2f} ms "
        f"per connection ({len(posts)} posts)"
    )
    progress.step(
        f"applied-to-push: p50 {percentile(delays, 50) * 1000:.0f} ms, p95 {percentile(delays, 95) * 1000:.0f} ms, "
        f"max {percentile(delays, 100) * 1000:.0f} ms ({len(delays)} probes, {report.never_pushed} never pushed, "
        f"{report.top_messages} top messages, achieved {achieved:,.0f} events/s)"
    )
    return outcome


def main(seed: int = 20_240_601) -> int:
    """This part of the suite alone: the table on stdout, the rows in bench/results/push.json."""
    scale = scale_from_env()
    progress = Progress()
    quiet_client_logs()
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    started_at = datetime.now(UTC)
    servers = BenchServers.start()
    try:
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
    path = RESULTS_DIR / "push.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(outcome.results))
    print(f"\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
