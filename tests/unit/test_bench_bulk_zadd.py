"""bench/bulk_zadd.py: the prebuilt ZADD bytes are the command redis-py would send, member for member.

The sharded bench's reader computes each player's home shard and looks them up by id, so a row
with a wrong digit or a player sent to the wrong shard would make its figures describe a different
board; these tests parse the bytes back with a RESP reader written for them."""

from __future__ import annotations

import numpy as np
import pytest

from bench.bulk_zadd import MAX_PLAYERS, MAX_SCORE, highest_first, home_shards, member_rows, user_id, zadd_command
from shared.domain.sharding import home_shard


def parse_command(payload: bytes) -> list[bytes]:
    """A RESP array of bulk strings, read strictly: every length must match its bytes."""
    header, _, rest = payload.partition(b"\r\n")
    assert header.startswith(b"*")
    arguments: list[bytes] = []
    for _ in range(int(header[1:])):
        length_line, _, rest = rest.partition(b"\r\n")
        assert length_line.startswith(b"$")
        length = int(length_line[1:])
        arguments.append(rest[:length])
        assert rest[length : length + 2] == b"\r\n"
        rest = rest[length + 2 :]
    assert rest == b""
    return arguments


def test_a_zadd_carries_each_players_id_and_score() -> None:
    players = np.array([MAX_PLAYERS - 1, 0, 12_345, 99_999_990, 7], dtype=np.int64)
    scores = np.array([0, 7, 123_456_789, MAX_SCORE, 42], dtype=np.int64)

    arguments = parse_command(b"".join(zadd_command("lb:{alltime:all#01/4}", member_rows(players, scores))))

    assert arguments[:2] == [b"ZADD", b"lb:{alltime:all#01/4}"]
    assert [int(score) for score in arguments[2::2]] == scores.tolist()
    assert [member.decode() for member in arguments[3::2]] == [user_id(index) for index in players.tolist()]


def test_rows_picked_by_home_shard_hold_exactly_that_shards_players() -> None:
    first, count, shards = 1_234_000, 2_000, 16
    players = np.arange(first, first + count, dtype=np.int64)
    rows = member_rows(players, np.arange(count, dtype=np.int64))
    homes = home_shards(players, shards)

    for shard in range(shards):
        arguments = parse_command(b"".join(zadd_command("key", rows[homes == shard])))
        members = [member.decode() for member in arguments[3::2]]
        assert members, "2 000 players leave no shard of 16 empty"
        assert all(home_shard(member, shards) == shard for member in members)
        assert len(members) == sum(1 for n in range(count) if home_shard(user_id(first + n), shards) == shard)


def test_user_ids_are_the_15_character_ids_of_the_memory_figures() -> None:
    assert user_id(12_345) == "player-00012345"
    assert len(user_id(MAX_PLAYERS - 1)) == 15


def test_players_go_out_in_the_boards_order_highest_score_first_then_the_larger_id() -> None:
    scores = np.array([5, 9, 5, 1, 9], dtype=np.int64)

    assert highest_first(scores).tolist() == [4, 1, 2, 0, 3]


@pytest.mark.parametrize(
    ("players", "scores"),
    [([MAX_PLAYERS], [1]), ([-1], [1]), ([0], [MAX_SCORE + 1]), ([0], [-1]), ([0, 1], [1])],
    ids=["id past 8 digits", "negative index", "score past 12 digits", "negative score", "one score short"],
)
def test_a_member_that_does_not_fit_its_fixed_width_is_refused(players: list[int], scores: list[int]) -> None:
    with pytest.raises(ValueError):
        member_rows(np.array(players, dtype=np.int64), np.array(scores, dtype=np.int64))
