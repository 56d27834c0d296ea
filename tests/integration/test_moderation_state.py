"""Who is banned, read from Redis (shared/adapters/moderation_state.py): the same answer whether the
hash is read whole (fewer bans than players asked about, the usual case) or field by field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.keys import moderation_state_key
from shared.adapters.moderation_state import RedisModerationState
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.domain.errors import StoreUnavailable

pytestmark = [pytest.mark.integration, pytest.mark.moderation]

STATE_DB = 12  # a logical database of its own, flushed before each test
BANNED = {"cheater": 0, "Zoë": 1_700_000_000_000, "名前": 5}


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url.rsplit("/", 1)[0] + f"/{STATE_DB}")
    redis_client.flushdb()  # only ever STATE_DB of the tests' own redis-server
    yield redis_client
    redis_client.close()


@pytest.mark.parametrize(
    "players",
    [
        {"cheater", "Zoë", "名前", "ann", "bob"},  # more players than bans: the hash read whole
        {"cheater", "ann", "bob", "carol"},  # the same, with some bans of others in the hash
        {"Zoë", "ann"},  # fewer: field by field
        {"ann"},
    ],
    ids=["whole hash", "whole hash, others banned", "field by field", "no one banned among them"],
)
def test_the_bans_of_the_players_asked_about_and_no_others(client: RedisClient, players: set[str]) -> None:
    RedisModerationState(client).record(dict(BANNED))
    expected = {player: until for player, until in BANNED.items() if player in players}
    assert RedisModerationState(client).banned_until(players) == expected


def test_no_hash_no_bans(client: RedisClient) -> None:
    assert RedisModerationState(client).banned_until({"ann", "bob"}) == {}
    assert client.exists(moderation_state_key()) == 0


def test_a_hash_of_the_wrong_type_is_the_store_unavailable(client: RedisClient) -> None:
    client.set(moderation_state_key(), "not a hash")
    with pytest.raises(StoreUnavailable, match="moderation state"):
        RedisModerationState(client).banned_until({"ann"})


@pytest.mark.parametrize("at_most", [3, 10])
def test_every_ban_when_there_are_at_most_so_many(client: RedisClient, at_most: int) -> None:
    RedisModerationState(client).record(dict(BANNED))
    assert RedisModerationState(client).every_ban(at_most) == BANNED


def test_every_ban_is_none_when_there_are_more(client: RedisClient) -> None:
    RedisModerationState(client).record(dict(BANNED))
    assert RedisModerationState(client).every_ban(2) is None
    assert RedisModerationState(client).every_ban(0) is None


def test_every_ban_of_no_hash_is_none_banned(client: RedisClient) -> None:
    assert RedisModerationState(client).every_ban(5) == {}


def test_every_ban_from_a_hash_of_the_wrong_type_is_the_store_unavailable(client: RedisClient) -> None:
    client.set(moderation_state_key(), "not a hash")
    with pytest.raises(StoreUnavailable, match="moderation state"):
        RedisModerationState(client).every_ban(5)


@pytest.mark.parametrize(
    "foreign",
    [{b"\xff\xfe": b"0"}, {b"mallory": b"soon"}],
    ids=["a field that is not text", "a value that is not a time"],
)
def test_every_ban_leaves_a_hash_with_a_foreign_entry_to_the_reads_player_by_player(
    client: RedisClient, foreign: dict[bytes, bytes]
) -> None:
    # One entry no ban could be stops no batch that does not hold its player: the bans are then read
    # player by player, which never meets it.
    RedisModerationState(client).record(dict(BANNED))
    client.hset(moderation_state_key(), mapping=foreign)  # type: ignore[arg-type]
    assert RedisModerationState(client).every_ban(10) is None
    assert RedisModerationState(client).banned_until({"cheater", "ann"}) == {"cheater": 0}
