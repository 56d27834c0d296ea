"""Resharding on the Redis Cluster harness (shared/application/reshard.py, docs/BOARDS.md "Resharding").

A board is written through the real sharded writer and apply script, with a ban (a hidden set) and
a last slice per partition that some old shards took and others did not (a batch that failed
part-way before the updater was paused). After the reshard the real query handler must answer on
the new layout exactly what it answered on the old one; redelivering the held-back slices into the
new layout applies each record no shard had taken, once, and nothing else; a new batch applies once.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from redis.cluster import RedisCluster

from local_runtime.redis_topologies import RedisClusterNodes
from shared.adapters import board_layouts
from shared.adapters.board_layouts import RedisBoardLayouts
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import (
    applied_events_key,
    board_shard_keys,
    hidden_scores_key,
    rebuild_lock_key,
    reshard_progress_key,
)
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application import reshard
from shared.application.apply import PendingScore
from shared.application.moderation_apply import BAN
from shared.application.reshard import (
    BoardResharder,
    LayoutPart,
    ReshardMismatch,
    ReshardRefused,
    ReshardStatus,
)
from shared.domain.boards import Window
from shared.domain.events import event_id_for
from shared.domain.sharding import home_shard
from tests.support.query_handler_api import QueryHandlerApi, entries
from tests.support.standings_truth import BoardTruth

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

BOARD = Window.ALLTIME.parse_period("all")
PARTITIONS = ("c/score-events-0", "c/score-events-1", "c/score-events-2")
PLAYERS = 200
SLICE = 80
PRODUCED_AT = 1_700_000_000_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    with RedisClusterNodes.start(Path(tmp_path_factory.mktemp("reshard-cluster"))) as nodes:
        yield nodes


@pytest.fixture
def client(cluster: RedisClusterNodes) -> Iterator[RedisClient]:
    redis_client = create_redis_client(cluster.url)
    redis_client.flushall(target_nodes=RedisCluster.PRIMARIES)  # type: ignore[call-arg]
    yield redis_client
    redis_client.close()


def writer_for(client: RedisClient, shards: int) -> RedisBoardWriter:
    return RedisBoardWriter(client, shards={Window.ALLTIME: shards})


def api_for(cluster: RedisClusterNodes, shards: int) -> QueryHandlerApi:
    return QueryHandlerApi.load(cluster.url, BOARD_SHARDS=f"alltime={shards}" if shards > 1 else "")


def resharder(client: RedisClient, layouts: RedisBoardLayouts | None = None) -> BoardResharder:
    return BoardResharder(layouts or RedisBoardLayouts(client), new_token=lambda: uuid.uuid4().hex)


@dataclass
class Filled:
    truth: BoardTruth
    logs: dict[str, list[PendingScore]]
    held_back: dict[str, list[PendingScore]]
    """Each partition's last slice: applied by no shard, or (the first partition) by some shards only."""
    hidden: dict[str, int]
    names: list[str]


def score(log: list[PendingScore], index: int, user: str, rng: random.Random) -> PendingScore:
    return PendingScore(
        len(log),
        bytes.fromhex(event_id_for(f"m-{index}", user)),
        user,
        rng.randint(1, 4),
        rng.randint(0, 2),
        PRODUCED_AT + index,
    )


def fill(client: RedisClient, shards: int, seed: int = 3) -> Filled:
    rng = random.Random(seed)
    truth = BoardTruth(BOARD.codec.max_points)
    writer = writer_for(client, shards)
    names = [f"p{index:03d}" for index in range(PLAYERS - 5)] + ["Zoë", "zoe", "日本", "😀", "a"]
    banned = names[:2]
    logs: dict[str, list[PendingScore]] = {partition: [] for partition in PARTITIONS}
    for index in range(1200):
        user = rng.choice(names)
        # The banned players score on the partition of their ban alone: the partitions are written one
        # after another here, so a score on another one could land after the ban.
        log = logs[PARTITIONS[0 if user in banned else index % len(PARTITIONS)]]
        if index == 600:
            for player in banned:
                ban_id = bytes.fromhex(event_id_for(f"ban-{player}", player))
                logs[PARTITIONS[0]].append(
                    PendingScore(len(logs[PARTITIONS[0]]), ban_id, player, 0, 0, PRODUCED_AT + index, BAN)
                )
            continue
        if index > 600 and user in banned:
            continue
        log.append(score(log, index, user, rng))
    held_back: dict[str, list[PendingScore]] = {}
    for partition, log in logs.items():
        held_back[partition] = log[-SLICE:]
        applied = log[:-SLICE]
        for start in range(0, len(applied), SLICE):
            writer.apply(BOARD, partition, applied[start : start + SLICE])
            for record in applied[start : start + SLICE]:
                if record.tag != BAN:
                    truth.take(record.event_id, record.user_id, record.points, record.reached_tick)
    # The first partition's last slice reached the odd shards only (the even ones failed).
    taken = [record for record in held_back[PARTITIONS[0]] if home_shard(record.user_id, shards) % 2 == 1]
    writer.apply(BOARD, PARTITIONS[0], taken)
    for record in taken:
        truth.take(record.event_id, record.user_id, record.points, record.reached_tick)
    hidden = {user: truth.points.pop(user) for user in banned if user in truth.points}
    for user in hidden:
        truth.reached.pop(user)
    return Filled(truth, logs, held_back, hidden, [name for name in names if name not in banned])


def answers(api: QueryHandlerApi, users: list[str]) -> list[Any]:
    """Pages at many offsets and sampled players' standings, in both tie modes."""
    base = "/v1/leaderboards/alltime"
    found: list[Any] = []
    for ties in ("shared", "first_reached"):
        for limit in (7, 100):
            for offset in range(0, PLAYERS + limit, limit):
                found.append(api.get(f"{base}/top", limit=limit, offset=offset, ties=ties))
        for user in users:
            found.append(api.get(f"{base}/users/{quote(user)}", around=3, ties=ties))
    return found


def assert_answers_truth(api: QueryHandlerApi, truth: BoardTruth) -> None:
    base = "/v1/leaderboards/alltime"
    for offset in range(0, len(truth.points) + 30, 30):
        status, page = api.get(f"{base}/top", limit=30, offset=offset, ties="shared")
        assert status == 200 and page["total"] == len(truth.points)
        assert entries(page) == truth.top(offset, 30, shared=True)
    for user in truth.order()[::17]:
        status, me = api.get(f"{base}/users/{quote(user)}", around=2, ties="first_reached")
        rank, points, total, _, neighbourhood = truth.player(user, 2, shared=False)
        assert status == 200 and (me["rank"], me["points"], me["total"]) == (rank, points, total)
        assert entries(me, "around") == neighbourhood


def members_of(client: RedisClient, key: str) -> set[str]:
    return {member.decode() for member in client.zrange(key, 0, -1)}  # type: ignore[union-attr]


@pytest.mark.parametrize(("from_shards", "to_shards"), [(4, 8), (8, 1), (1, 4)])
def test_the_new_layout_answers_as_the_old_and_takes_redeliveries_once(
    cluster: RedisClusterNodes, client: RedisClient, from_shards: int, to_shards: int
) -> None:
    filled = fill(client, from_shards)
    sample = random.Random(5).sample(filled.truth.order(), 25)
    before = answers(api_for(cluster, from_shards), sample)
    assert_answers_truth(api_for(cluster, from_shards), filled.truth)

    outcome = resharder(client).reshard(BOARD, from_shards, to_shards, 120.0)

    assert (outcome.status, outcome.players, outcome.hidden) == (
        ReshardStatus.COPIED,
        len(filled.truth.points),
        len(filled.hidden),
    )
    assert answers(api_for(cluster, to_shards), sample) == before
    new_keys = board_shard_keys(BOARD, to_shards)
    for shard, key in enumerate(new_keys):
        assert all(home_shard(user, to_shards) == shard for user in members_of(client, key))
        assert all(home_shard(user, to_shards) == shard for user in members_of(client, hidden_scores_key(key)))
    layouts = RedisBoardLayouts(client)
    assert list(layouts.ordered(BOARD, to_shards, LayoutPart.HIDDEN)) == list(
        layouts.ordered(BOARD, from_shards, LayoutPart.HIDDEN)
    )
    assert {member.user_id for member in layouts.ordered(BOARD, to_shards, LayoutPart.HIDDEN)} == set(filled.hidden)

    # The updater resumes on the new layout, redelivering from the first partition's failed slice.
    writer = writer_for(client, to_shards)
    taken = [record.offset for record in filled.held_back[PARTITIONS[0]] if home_shard(record.user_id, from_shards) % 2]
    results = [writer.apply(BOARD, partition, filled.held_back[partition]) for partition in PARTITIONS]
    # Taken by some old shard: a duplicate by its remembered id. Taken by none: applied as new, not
    # guessed to be a restarted partition (a reset) nor skipped as applied (unverified).
    assert results[0].duplicates == tuple(taken) and results[0].applied == SLICE - len(taken)
    assert [len(result.duplicates) for result in results[1:]] == [0, 0]
    assert [result.applied for result in results[1:]] == [SLICE, SLICE]
    assert all(result.resets == 0 and not result.unverified and not result.redelivered for result in results)
    for partition in PARTITIONS:
        for record in filled.held_back[partition]:
            filled.truth.take(record.event_id, record.user_id, record.points, record.reached_tick)
    again = [writer.apply(BOARD, partition, filled.logs[partition][-2 * SLICE :]) for partition in PARTITIONS]
    assert sum(result.applied for result in again) == 0
    log = filled.logs[PARTITIONS[1]]
    rng = random.Random(8)
    fresh = [score(log, 5000 + index, rng.choice(filled.names), rng) for index in range(40)]
    assert writer.apply(BOARD, PARTITIONS[1], fresh).applied == len(fresh)
    assert writer.apply(BOARD, PARTITIONS[1], fresh).applied == 0
    for record in fresh:
        filled.truth.take(record.event_id, record.user_id, record.points, record.reached_tick)
    assert_answers_truth(api_for(cluster, to_shards), filled.truth)

    cleaned = resharder(client).clean_up(BOARD, from_shards, to_shards)

    assert cleaned.status is ReshardStatus.CLEANED
    old_keys = board_shard_keys(BOARD, from_shards)
    left = [key.decode() for key in client.keys("*")]  # type: ignore[union-attr]
    assert left and not [key for key in left if key.startswith(old_keys)]
    assert_answers_truth(api_for(cluster, to_shards), filled.truth)


def test_a_layout_holding_data_no_run_wrote_is_refused_and_left_alone(client: RedisClient) -> None:
    fill(client, 4)
    stray = PendingScore(0, bytes.fromhex(event_id_for("stray", "p001")), "p001", 5, 0, PRODUCED_AT)
    writer_for(client, 8).apply(BOARD, PARTITIONS[0], [stray])
    layouts = RedisBoardLayouts(client)
    before = list(layouts.ordered(BOARD, 8, LayoutPart.BOARD))

    with pytest.raises(ReshardRefused, match="already holds data that no reshard run wrote"):
        resharder(client).reshard(BOARD, 4, 8, 60.0)

    assert list(layouts.ordered(BOARD, 8, LayoutPart.BOARD)) == before
    assert not client.exists(reshard_progress_key(BOARD, 8), rebuild_lock_key(BOARD))


def test_a_run_into_a_layout_another_run_is_filling_is_refused(client: RedisClient) -> None:
    fill(client, 4)
    clock = iter(range(1000))
    started = BoardResharder(RedisBoardLayouts(client), lambda: uuid.uuid4().hex, lambda: float(next(clock)))
    assert started.reshard(BOARD, 4, 2, 3.0).status is ReshardStatus.INCOMPLETE

    with pytest.raises(ReshardRefused, match="into 2 shards from 4, not 1"):
        resharder(client).reshard(BOARD, 1, 2, 60.0)
    with pytest.raises(ReshardRefused, match="no verified reshard"):
        resharder(client).clean_up(BOARD, 4, 2)
    assert RedisBoardLayouts(client).holds_data(BOARD, 4)


def test_a_locked_board_is_left_to_the_run_holding_the_lock(client: RedisClient) -> None:
    fill(client, 4)
    assert client.set(rebuild_lock_key(BOARD), "another run")
    assert resharder(client).reshard(BOARD, 4, 8, 60.0).status is ReshardStatus.ALREADY_RUNNING
    assert resharder(client).clean_up(BOARD, 4, 8).status is ReshardStatus.ALREADY_RUNNING
    assert not RedisBoardLayouts(client).holds_data(BOARD, 8)
    assert client.get(rebuild_lock_key(BOARD)) == b"another run"


class _UpdaterStillRunning(RedisBoardLayouts):
    """The old layout takes a record after the copy: the updater was not paused."""

    def finish(self, *args: Any, **kwargs: Any) -> None:
        late = PendingScore(10_000, bytes.fromhex(event_id_for("late", "p002")), "p002", 3, 0, PRODUCED_AT + 9_999)
        writer_for(self.client, 4).apply(BOARD, PARTITIONS[2], [late])
        super().finish(*args, **kwargs)


def test_a_copy_that_differs_from_the_old_layout_is_dropped(client: RedisClient) -> None:
    fill(client, 4)
    with pytest.raises(ReshardMismatch, match="did the updater run during the copy"):
        resharder(client, _UpdaterStillRunning(client)).reshard(BOARD, 4, 8, 60.0)
    assert not RedisBoardLayouts(client).holds_data(BOARD, 8)
    assert not client.exists(reshard_progress_key(BOARD, 8))


class _CountingChunks(RedisBoardLayouts):
    chunks_written = 0

    def add_members(self, *args: Any, **kwargs: Any) -> None:
        self.chunks_written += 1
        super().add_members(*args, **kwargs)

    def remember(self, *args: Any, **kwargs: Any) -> None:
        self.chunks_written += 1
        super().remember(*args, **kwargs)


def _old_sources(client: RedisClient, shards: int) -> list[str]:
    keys = board_shard_keys(BOARD, shards)
    return [*keys, *map(hidden_scores_key, keys), *(applied_events_key(key, p) for p in PARTITIONS for key in keys)]


def test_an_interrupted_reshard_resumes_where_it_stopped(
    cluster: RedisClusterNodes, client: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks: every source takes several, so runs stop inside a shard as well as between them.
    monkeypatch.setattr(board_layouts, "COPY_CHUNK", 16)
    monkeypatch.setattr(reshard, "COPY_CHUNK", 16)
    monkeypatch.setattr(reshard, "VERIFY_CHUNK", 16)
    filled = fill(client, 4)
    sample = random.Random(6).sample(filled.truth.order(), 20)
    before = answers(api_for(cluster, 4), sample)
    chunks = sum(int(client.zcard(key)) // 16 + 1 for key in _old_sources(client, 4))
    clock = iter(range(100_000))
    layouts = _CountingChunks(client)
    interrupted = BoardResharder(layouts, lambda: uuid.uuid4().hex, lambda: float(next(clock)))
    runs = [interrupted.reshard(BOARD, 4, 8, 5.0) for _ in range(60)]
    statuses = [run.status for run in runs]
    first_copied = statuses.index(ReshardStatus.COPIED)
    assert first_copied > 3 and set(statuses[:first_copied]) == {ReshardStatus.INCOMPLETE}
    assert runs[first_copied].players == len(filled.truth.points)
    details = [run.detail for run in runs[:first_copied]]
    verifying = details.index("verifying")
    assert details.count("verifying") >= 2 and set(details[verifying:]) == {"verifying"}
    assert verifying > 3
    # Each run goes on where the last stopped: every chunk of every source is copied once.
    assert layouts.chunks_written == chunks
    assert runs[-1].detail == "verified by an earlier run"
    assert answers(api_for(cluster, 8), sample) == before
    writer = writer_for(client, 8)
    assert sum(writer.apply(BOARD, partition, filled.logs[partition][:-SLICE]).applied for partition in PARTITIONS) == 0
