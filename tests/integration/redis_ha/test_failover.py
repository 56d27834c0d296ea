"""A Redis primary dies under steady load; the service finds the new one and loses no acknowledged update.

Each test runs the whole local service (HTTP ingest, Kafka, the MSK trigger, the updater, the query
handler) on a Sentinel group or a Redis Cluster with REDIS_WAIT_REPLICAS=1, posts score events
over HTTP while reading the top 100, SIGKILLs the primary holding the board, restarts the dead
node once a replica took over (as a supervisor, or ElastiCache's node replacement, would), and
then requires the board to equal the sum of every acknowledged post. The times to recover are
printed, not asserted.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from local_runtime.redis_topologies import FailoverTopology, RedisClusterNodes, SentinelGroup
from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from shared.adapters.keys import board_shard_keys
from shared.domain.boards import Window
from tests.support.direct_reads import board_points
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.past_months import Month
from tests.support.waiting import wait_for

PLAYERS = 25  # all of them fit in one GET .../top?limit=100
POSTS_PER_SECOND = 60
MAX_LOAD_SECONDS = 90


@dataclass
class SteadyLoad:
    """Posts one new score event at a time at a fixed pace, remembering what was acknowledged."""

    api: Api
    month: Month
    acknowledged: dict[str, int] = field(default_factory=dict)
    posts_acknowledged: int = 0
    refused: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng, run_id = random.Random(4), uuid.uuid4().hex[:8]
        started = time.monotonic()
        for index in range(POSTS_PER_SECOND * MAX_LOAD_SECONDS):
            if self.stop.is_set():
                return
            user, points = f"player-{rng.randrange(PLAYERS):02d}", rng.randint(1, 9)
            event = {
                "match_id": f"{run_id}-{index}",
                "user_id": user,
                "points": points,
                "occurred_at": self.month.at(index),
            }
            status, _ = self.api.post("/v1/scores", event)
            if status == 202:
                self.acknowledged[user] = self.acknowledged.get(user, 0) + points
                self.posts_acknowledged += 1
            else:
                self.refused.append(status)
            ahead = started + (index + 1) / POSTS_PER_SECOND - time.monotonic()
            if ahead > 0:
                self.stop.wait(ahead)


@dataclass
class TopReader:
    """Reads the top 100 every 50 ms: (time asked, HTTP status, sum of the points shown)."""

    api: Api
    month: Month
    seen: list[tuple[float, int, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        for _ in range(20 * MAX_LOAD_SECONDS * 2):
            if self.stop.is_set():
                return
            asked_at = time.monotonic()  # an answer that arrives after the kill may predate it
            status, body = self.api.get(f"/v1/leaderboards/monthly/top?period={self.month.period}&limit=100")
            shown = sum(entry["points"] for entry in body.get("entries", [])) if status == 200 else 0
            self.seen.append((asked_at, status, shown))
            self.stop.wait(0.05)

    def reads_back_after(self, kill_time: float) -> float:
        """Seconds from the kill to the first good answer after the last failed one (0 if none failed)."""
        failures = [t for t, status, _ in self.seen if t >= kill_time and status != 200]
        if not failures:
            return 0.0
        recovered = [t for t, status, _ in self.seen if t > failures[-1] and status == 200]
        return (recovered[0] if recovered else float("nan")) - kill_time

    def writes_visible_after(self, kill_time: float) -> float:
        """Seconds from the kill until the board shows more points than it ever did before it."""
        before = max((shown for t, status, shown in self.seen if t < kill_time), default=0)
        grown = [t for t, status, shown in self.seen if t >= kill_time and shown > before]
        return (grown[0] if grown else float("nan")) - kill_time


def failover_under_load(
    topology: FailoverTopology,
    stack: RunningStack,
    month: Month,
    capsys: pytest.CaptureFixture[str],
    label: str,
    *,
    shards: int = 1,
) -> None:
    """`shards` > 1: the month's board is split (BOARD_SHARDS), and the primary killed holds shard 1."""
    api = Api(stack.api_url, stack.api_key)
    load, reader = SteadyLoad(api, month), TopReader(api, month)
    threads = [threading.Thread(target=load.run, daemon=True), threading.Thread(target=reader.run, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        wait_for(
            lambda: len(board_points(stack.redis_url, month.period, shards=shards)) > 5,
            what="scores to flow before the kill",
        )
        time.sleep(1.0)

        board = Window.MONTHLY.parse_period(month.period)
        killed = topology.kill_primary(board_shard_keys(board, shards)[1 % shards])  # returns once it is gone
        killed_at = time.monotonic()
        topology.wait_for_failover(killed)
        promoted_after = time.monotonic() - killed_at
        topology.bring_back(killed)
        replica_back_after = time.monotonic() - killed_at
        time.sleep(3.0)
    finally:
        load.stop.set()
        threads[0].join(timeout=30)
    load_stopped = time.monotonic()

    try:
        wait_for(
            lambda: board_points(stack.redis_url, month.period, shards=shards) == load.acknowledged,
            timeout=60,
            what="the board to equal every acknowledged post",
        )
        caught_up_after = time.monotonic() - load_stopped
        total = sum(load.acknowledged.values())
        wait_for(lambda: reader.seen and reader.seen[-1][2] == total, what="the query handler to show the whole board")
    finally:
        reader.stop.set()
        threads[1].join(timeout=30)

    assert not load.refused, f"ingest refused posts while Redis failed over: {load.refused[:10]}"
    assert stack.trigger.counters.dead_lettered == 0
    with capsys.disabled():
        print(
            f"\n[{label}] primary SIGKILLed under {POSTS_PER_SECOND} posts/s: replica promoted after "
            f"{promoted_after:.1f} s; queries answered again after {reader.reads_back_after(killed_at):.1f} s; "
            f"dead node back as a replica after {replica_back_after:.1f} s; new scores visible after "
            f"{reader.writes_visible_after(killed_at):.1f} s; board == the {load.posts_acknowledged} acknowledged "
            f"posts {caught_up_after:.1f} s after the load stopped "
            f"(updater batches failed and retried: {stack.trigger.counters.failures})"
        )


@pytest.fixture
def waiting_environ(servers: LocalServers) -> dict[str, str]:
    """Shared Kafka and moto; the updater waits for one replica before it reports a batch done."""
    return own_servers_environ(
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
        REDIS_WAIT_REPLICAS="1",
    )


@pytest.fixture
def sentinel_group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup.start(tmp_path / "sentinel") as group:
        yield group


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[RedisClusterNodes]:
    with RedisClusterNodes.start(tmp_path / "cluster") as cluster:
        yield cluster


def stack_on(url: str, environ: dict[str, str], workdir: Path) -> RunningStack:
    return start_stack({**environ, "REDIS_URL": url}, workdir, trigger_settings={"max_backoff_seconds": 1.0})


@pytest.mark.sentinel
def test_sentinel_failover_loses_no_acknowledged_update(
    sentinel_group: SentinelGroup,
    waiting_environ: dict[str, str],
    tmp_path: Path,
    month: Month,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with stack_on(sentinel_group.url, waiting_environ, tmp_path / "stack") as stack:
        failover_under_load(sentinel_group, stack, month, capsys, "sentinel")


@pytest.mark.cluster
def test_cluster_failover_loses_no_acknowledged_update(
    redis_cluster: RedisClusterNodes,
    waiting_environ: dict[str, str],
    tmp_path: Path,
    month: Month,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with stack_on(redis_cluster.url, waiting_environ, tmp_path / "stack") as stack:
        failover_under_load(redis_cluster, stack, month, capsys, "cluster")


@pytest.mark.cluster
def test_cluster_failover_of_one_shard_loses_no_acknowledged_update(
    redis_cluster: RedisClusterNodes,
    waiting_environ: dict[str, str],
    tmp_path: Path,
    month: Month,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The month's board in 4 shards (docs/BOARDS.md#sharded-boards): the primary holding one shard dies."""
    environ = {**waiting_environ, "BOARD_SHARDS": "monthly=4"}
    with stack_on(redis_cluster.url, environ, tmp_path / "stack") as stack:
        failover_under_load(redis_cluster, stack, month, capsys, "cluster, 4 shards", shards=4)
