"""REDIS_URL and secrets to redis-py clients, without connecting; and the cluster slot of each key."""

from __future__ import annotations

import pytest
from redis import Redis
from redis.crc import key_slot
from redis.sentinel import SentinelConnectionPool

from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import (
    _ssm_parameter_name,
    create_redis_client,
    parse_hosts,
    parse_secret,
    parse_userinfo,
)
from shared.domain.boards import Window


def test_hosts_with_and_without_credentials() -> None:
    assert parse_hosts("a:1,b:2") == [("a", 1), ("b", 2)]
    assert parse_hosts("user:p%40ss@10.0.0.1:26379,[::1]:26380") == [("10.0.0.1", 26379), ("::1", 26380)]
    with pytest.raises(ValueError, match="needs a port"):
        parse_hosts("just-a-host")


@pytest.mark.parametrize(
    ("netloc", "credentials"),
    [
        ("h:1", ()),
        ("secret@h:1", ("secret",)),
        (":secret@h:1", ("secret",)),
        ("alice:p%3Ass%40word@h:1,h:2", ("alice", "p:ss@word")),
    ],
)
def test_userinfo(netloc: str, credentials: tuple[str, ...]) -> None:
    assert parse_userinfo(netloc) == credentials


@pytest.mark.parametrize(
    ("value", "credentials"),
    [
        ('{"username": "alice", "password": "pw"}', ("alice", "pw")),
        ('{"password": "pw", "user_arn": "arn:..."}', ("pw",)),
        (b"  bare-token\n", ("bare-token",)),
        ({"username": "", "password": "pw"}, ("pw",)),
    ],
)
def test_secret_shapes(value: str | bytes | dict[str, str], credentials: tuple[str, ...]) -> None:
    assert parse_secret(value) == credentials


@pytest.mark.parametrize("value", ["", '{"username": "alice"}', '{"password": ""}', "{not json"])
def test_unusable_secrets_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_secret(value)


def test_ssm_parameter_arns_become_names() -> None:
    assert _ssm_parameter_name("arn:aws:ssm:eu-west-1:123456789012:parameter/lb/redis") == "/lb/redis"
    assert _ssm_parameter_name("arn:aws:ssm:eu-west-1:123456789012:parameter/redis-pass") == "redis-pass"
    assert _ssm_parameter_name("arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbC") is None


def test_standalone_url_credentials_reach_the_connection() -> None:
    client = create_redis_client("rediss://alice:p%40ss@cache.example:6380/2")
    assert isinstance(client, Redis)
    options = client.connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"]) == ("cache.example", 6380, 2)
    assert (options["username"], options["password"]) == ("alice", "p@ss")


def test_sentinel_url_names_the_sentinels_and_the_service() -> None:
    client = create_redis_client("redis+sentinel://:pw@s1:26379,s2:26380/leaderboard")
    assert isinstance(client, Redis)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "leaderboard"
    assert pool.connection_kwargs["password"] == "pw"
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]


@pytest.mark.parametrize(
    ("url", "secret", "problem"),
    [
        ("redis+sentinel://s1:26379", "", "service name"),
        ("memcached://h:1", "", "unsupported"),
        ("redis://u:p@h:1/0", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "use one of them"),
    ],
)
def test_unusable_configurations_are_refused(url: str, secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        create_redis_client(url, secret_reference=secret)


@pytest.mark.parametrize(
    ("window", "period"),
    [
        (Window.MONTHLY, "2001-01"),
        (Window.MONTHLY, "2099-12"),
        (Window.DAILY, "2026-11-30"),
        (Window.WEEKLY, "2026-W49"),
        (Window.ALLTIME, "all"),
    ],
)
def test_a_board_its_watermarks_and_its_remembered_events_share_a_cluster_slot(window: Window, period: str) -> None:
    board = window.parse_period(period)
    keys = (board.key, applied_offsets_key(board), applied_events_key(board, "t-0"))
    assert len({key_slot(key.encode()) for key in keys}) == 1


def test_monthly_boards_keep_their_keys() -> None:
    board = Window.MONTHLY.parse_period("2026-11")
    assert board.key == "lb:{monthly:2026-11}"
    assert applied_offsets_key(board) == "lb:{monthly:2026-11}:applied"
    assert applied_events_key(board, "c/t-0") == "lb:{monthly:2026-11}:events:c/t-0"


def test_boards_of_different_months_spread_over_slots() -> None:
    slots = {key_slot(Window.MONTHLY.parse_period(f"2026-{month:02d}").key.encode()) for month in range(1, 13)}
    assert len(slots) == 12
