"""The admin status's hidden points on a sharded board: read from the player's home shard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.hidden_scores import RedisHiddenScores
from shared.adapters.keys import board_shard_keys, hidden_scores_key, home_shard_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.domain.boards import Window

pytestmark = [pytest.mark.integration, pytest.mark.moderation]

ALL_TIME = Window.ALLTIME.parse_period("all")
WEEK = Window.WEEKLY.parse_period("2024-W10")


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url)
    yield redis_client
    for board, shards in ((ALL_TIME, 4), (WEEK, 1)):
        for key in board_shard_keys(board, shards):
            redis_client.delete(hidden_scores_key(key))
    redis_client.close()


def test_hidden_points_are_read_from_the_home_shard_of_a_sharded_board(client: RedisClient) -> None:
    players = ["mallory", "trudy", "eve", "oscar"]
    for points, user in enumerate(players, start=1):
        client.zadd(
            hidden_scores_key(home_shard_key(ALL_TIME, 4, user)),
            {user: ALL_TIME.encode(points * 10, ALL_TIME.start_ms)},
        )
        client.zadd(hidden_scores_key(WEEK), {user: WEEK.encode(points, WEEK.start_ms)})
    # The four players do not all share one shard, so a read of shard 0 alone would miss some.
    assert len({home_shard_key(ALL_TIME, 4, user) for user in players}) > 1

    hidden = RedisHiddenScores(client, shards={Window.ALLTIME: 4})
    for points, user in enumerate(players, start=1):
        assert hidden.hidden_points(user, [ALL_TIME, WEEK]) == {ALL_TIME: points * 10, WEEK: points}
    assert hidden.hidden_points("nobody", [ALL_TIME, WEEK]) == {}
