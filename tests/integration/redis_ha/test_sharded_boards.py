"""Sharded boards on the Redis Cluster harness: written by the real apply script through
RedisBoardWriter, read through the real query handler, and held to a brute-force ranking of the
events (tests/support/standings_truth.py): every page, shared ranks, every sampled player's rank,
neighbours and percentile. Redeliveries apply nothing twice, and each player lives in their home
shard alone. Failover of one shard's primary under load is in test_failover.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from redis.cluster import RedisCluster

from local_runtime.redis_topologies import RedisClusterNodes
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_offsets_key, board_shard_keys
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import PendingScore
from shared.domain.boards import Window
from shared.domain.events import event_id_for
from shared.domain.sharding import MAX_SHARDED_DEPTH, home_shard
from tests.support.query_handler_api import QueryHandlerApi, entries
from tests.support.standings_truth import BoardTruth

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

SHARDS = 4
BOARD = Window.ALLTIME.parse_period("all")
PARTITIONS = ("t/score-events-0", "t/score-events-1", "t/score-events-2")
PLAYERS = 240


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    with RedisClusterNodes.start(Path(tmp_path_factory.mktemp("sharded-cluster"))) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def client(cluster: RedisClusterNodes) -> Iterator[RedisClient]:
    redis_client = create_redis_client(cluster.url)
    yield redis_client
    redis_client.close()


def players(rng: random.Random) -> list[str]:
    # Non-ASCII ids too: the shards' order and the merge's must agree byte for byte.
    names = [f"p{index:03d}" for index in range(PLAYERS - 6)] + ["Zoë", "zoe", "日本", "😀", "ÿ", "a"]
    rng.shuffle(names)
    return names


@pytest.fixture(scope="module")
def written(client: RedisClient) -> BoardTruth:
    """The board written through the sharded writer, in slices per partition, with redeliveries."""
    rng = random.Random(14)
    truth = BoardTruth(BOARD.codec.max_points)
    writer = RedisBoardWriter(client, shards={Window.ALLTIME: SHARDS})
    logs: dict[str, list[PendingScore]] = {partition: [] for partition in PARTITIONS}
    names = players(rng)
    for index in range(1500):
        user = rng.choice(names)
        partition = PARTITIONS[index % len(PARTITIONS)]
        # Few points and ticks: many equal totals (shared ranks) and exact ties (ordered by member).
        score = PendingScore(
            len(logs[partition]),
            bytes.fromhex(event_id_for(f"m-{index}", user)),
            user,
            rng.randint(1, 4),
            rng.randint(0, 2),
            1_700_000_000_000,
        )
        logs[partition].append(score)
        truth.take(score.event_id, user, score.points, score.reached_tick)
    for partition, scores in logs.items():
        for start in range(0, len(scores), 200):
            result = writer.apply(BOARD, partition, scores[start : start + 200])
            assert result.applied == len(scores[start : start + 200])
    # Redelivered from an earlier offset: every shard skips what it applied, by its own watermark.
    again = writer.apply(BOARD, PARTITIONS[0], logs[PARTITIONS[0]][100:400])
    assert again.applied == 0 and len(again.redelivered) == 300
    return truth


def test_each_player_lives_in_their_home_shard_alone(client: RedisClient, written: BoardTruth) -> None:
    keys = board_shard_keys(BOARD, SHARDS)
    held = {key: {member.decode() for member in client.zrange(key, 0, -1)} for key in keys}  # type: ignore[union-attr]
    assert not client.exists(BOARD.key)
    for shard, key in enumerate(keys):
        assert held[key], f"shard {shard} is empty: the layout does not spread players"
        assert all(home_shard(user, SHARDS) == shard for user in held[key])
    assert sorted(user for members in held.values() for user in members) == sorted(written.points)
    assert len({client.cluster_keyslot(key) for key in keys}) == SHARDS  # type: ignore[union-attr]
    reader = RedisBoardReader(client, shards={Window.ALLTIME: SHARDS})
    elsewhere = Window.MONTHLY.parse_period("2011-05")  # unsharded, and nobody scored in it
    assert reader.existing([elsewhere, BOARD]) == {BOARD}


def test_the_query_handler_answers_as_the_brute_force(cluster: RedisClusterNodes, written: BoardTruth) -> None:
    api = QueryHandlerApi.load(cluster.url, BOARD_SHARDS=f"alltime={SHARDS}")
    unsharded = QueryHandlerApi.load(cluster.url)
    order = written.order()
    assert len(order) == PLAYERS
    base = "/v1/leaderboards/alltime"
    for limit in (1, 7, 100):
        for offset in [*range(0, PLAYERS + limit, limit), 3, 119, PLAYERS - 1]:
            for ties in ("shared", "first_reached"):
                status, page = api.get(f"{base}/top", limit=limit, offset=offset, ties=ties)
                assert status == 200 and page["total"] == PLAYERS
                assert entries(page) == written.top(offset, limit, shared=ties == "shared")
    rng = random.Random(7)
    for user in [*rng.sample(order, 40), order[0], order[-1]]:
        around = rng.randint(0, 6)
        for ties in ("shared", "first_reached"):
            status, me = api.get(f"{base}/users/{quote(user)}", around=around, ties=ties)
            assert status == 200, me
            rank, points, total, percentile, neighbourhood = written.player(user, around, shared=ties == "shared")
            assert (me["rank"], me["points"], me["total"], me["percentile"]) == (rank, points, total, percentile)
            assert entries(me, "around") == neighbourhood
    # The same cluster read as one key per board: the unsharded key does not exist, so nobody is on it.
    assert unsharded.get(f"{base}/top")[1]["total"] == 0
    status, missing = api.get(f"{base}/users/nobody", around=3)
    assert status == 404, missing


def test_a_page_too_deep_is_a_400_naming_the_bound(cluster: RedisClusterNodes, written: BoardTruth) -> None:
    api = QueryHandlerApi.load(cluster.url, BOARD_SHARDS=f"alltime={SHARDS}")
    status, body = api.get("/v1/leaderboards/alltime/top", limit=10, offset=MAX_SHARDED_DEPTH)
    assert status == 400, body
    assert body["error"]["field"] == "offset" and str(MAX_SHARDED_DEPTH) in body["error"]["message"]


def test_a_standing_is_answered_after_the_nodes_lost_their_scripts(
    cluster: RedisClusterNodes, client: RedisClient, written: BoardTruth
) -> None:
    # A restarted or replaced node holds no scripts: the reader sends the script's text once.
    api = QueryHandlerApi.load(cluster.url, BOARD_SHARDS=f"alltime={SHARDS}")
    user = written.order()[17]
    assert api.get(f"/v1/leaderboards/alltime/users/{quote(user)}", around=2)[0] == 200
    client.execute_command("SCRIPT FLUSH", target_nodes=RedisCluster.ALL_NODES)  # type: ignore[no-untyped-call]
    status, me = api.get(f"/v1/leaderboards/alltime/users/{quote(user)}", around=2)
    assert status == 200, me
    assert me["rank"] == written.player(user, 2, shared=False)[0]


def test_the_closer_exports_a_sharded_board_in_rank_order(client: RedisClient, written: BoardTruth) -> None:
    export = RedisBoardExport(client, shards={Window.ALLTIME: SHARDS})
    assert export.size(BOARD) == PLAYERS
    chunks = list(export.chunks(BOARD, 37))  # a chunk size that divides nothing
    assert all(len(chunk) == 37 for chunk in chunks[:-1])
    assert [(entry.user_id, entry.points) for chunk in chunks for entry in chunk] == [
        (user, written.points[user]) for user in written.order()
    ]
    keep_until = int(time.time() * 1000) + 86_400_000
    export.expire(BOARD, keep_until)
    for key in board_shard_keys(BOARD, SHARDS):
        for expiring in (key, applied_offsets_key(key)):
            assert client.pexpiretime(expiring) == keep_until, expiring
