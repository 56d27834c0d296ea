"""Sharded boards' layout and merges (shared.domain.sharding, the shard keys) against brute force.

The brute force sorts every member of the board at once, as one sorted set would; the merges see
only what each shard would return, and must give the same answer."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.keys import applied_events_key, applied_offsets_key, board_shard_keys
from shared.adapters.settings import Settings
from shared.domain.boards import Window
from shared.domain.sharding import (
    MAX_BOARD_SHARDS,
    MAX_SHARDED_DEPTH,
    PageTooDeep,
    Ranked,
    home_shard,
    merge_around,
    merge_ordered,
    merge_top,
    parse_board_shards,
    players_ahead_in,
)

pytestmark = pytest.mark.unit

ALLTIME = Window.ALLTIME.parse_period("all")
SLOTS = 4  # a toy codec: score = points * SLOTS + remainder
# Few user ids and scores, so exact ties (same score, order by member) are common; non-ASCII ids too.
users = st.text(alphabet="abzÿé日😀", min_size=1, max_size=3)
boards = st.dictionaries(users, st.integers(0, 12), min_size=1, max_size=60)
shard_counts = st.integers(1, 7)


def board_order(members: list[Ranked]) -> list[Ranked]:
    """The brute force: the whole board sorted as Redis sorts one set, member bytes breaking exact ties."""
    return sorted(members, key=lambda member: (member.score, member.user_id.encode()), reverse=True)


def split(scores: dict[str, int], shards: int) -> list[list[Ranked]]:
    pieces: list[list[Ranked]] = [[] for _ in range(shards)]
    for user, score in scores.items():
        pieces[home_shard(user, shards)].append(Ranked(score, user))
    return [board_order(piece) for piece in pieces]


def place_in(piece: list[Ranked], player: Ranked) -> int:
    """Members of a shard that sort before the player (what shard_standing.lua counts)."""
    key = (player.score, player.user_id.encode())
    return sum(1 for member in piece if (member.score, member.user_id.encode()) > key)


@given(boards, shard_counts, st.integers(0, 70), st.integers(1, 20))
@settings(max_examples=300, deadline=None)
def test_merged_top_equals_the_whole_board_sorted(scores: dict[str, int], shards: int, offset: int, limit: int) -> None:
    everyone = board_order([Ranked(score, user) for user, score in scores.items()])
    depth = offset + limit
    pieces = [piece[:depth] for piece in split(scores, shards)]
    merged = merge_top(pieces, depth)
    assert merged == everyone[:depth]
    if offset < len(everyone):
        better_from = (everyone[offset].score // SLOTS + 1) * SLOTS
        assert players_ahead_in(merged, offset, better_from) == sum(1 for m in everyone if m.score >= better_from)


@given(boards, shard_counts, st.data(), st.integers(0, 6))
@settings(max_examples=300, deadline=None)
def test_merged_neighbourhood_equals_the_whole_board_sorted(
    scores: dict[str, int], shards: int, data: st.DataObject, neighbours: int
) -> None:
    everyone = board_order([Ranked(score, user) for user, score in scores.items()])
    player = data.draw(st.sampled_from(everyone))
    pieces, before = [], 0
    for piece in split(scores, shards):
        place = place_in(piece, player)
        before += place
        pieces.append(piece[max(0, place - neighbours) : place + neighbours + 1])
    first, members = merge_around(pieces, player, before, neighbours)
    at = everyone.index(player)
    assert before == at
    assert first == max(0, at - neighbours)
    assert members == everyone[first : at + neighbours + 1]


@given(boards, shard_counts)
@settings(max_examples=100, deadline=None)
def test_the_lazy_merge_walks_the_whole_board_in_order(scores: dict[str, int], shards: int) -> None:
    everyone = board_order([Ranked(score, user) for user, score in scores.items()])
    assert list(merge_ordered(split(scores, shards))) == everyone


def test_a_player_s_home_shard_is_crc32_of_the_id_and_never_moves() -> None:
    # Data in Redis is placed by this function: a change would strand every player in the wrong shard.
    for user in ("alice", "Zoë", "日本", "x" * 128):
        assert home_shard(user, 16) == zlib.crc32(user.encode()) % 16
        assert home_shard(user, 1) == 0
    assert home_shard("alice", 16) == 7  # pinned: the layout written by earlier releases


@given(users, st.integers(1, MAX_BOARD_SHARDS))
@settings(deadline=None)
def test_every_player_has_a_home_among_the_shards(user: str, shards: int) -> None:
    assert 0 <= home_shard(user, shards) < shards


def test_one_shard_keeps_the_board_s_own_key_and_watermarks() -> None:
    assert board_shard_keys(ALLTIME, 1) == (ALLTIME.key,) == ("lb:{alltime:all}",)
    assert applied_offsets_key(ALLTIME.key) == applied_offsets_key(ALLTIME) == "lb:{alltime:all}:applied"
    assert applied_events_key(ALLTIME.key, "p-0") == applied_events_key(ALLTIME, "p-0")


def test_shards_have_hash_tags_of_their_own_and_two_layouts_share_no_key() -> None:
    sixteen = board_shard_keys(ALLTIME, 16)
    assert sixteen[7] == "lb:{alltime:all#07/16}"
    assert len({key_slot(key.encode()) for key in sixteen}) == 16  # 16 different Cluster slots
    # A shard's watermarks sit in its slot, so the apply script's keys stay in one slot.
    assert key_slot(applied_offsets_key(sixteen[3]).encode()) == key_slot(sixteen[3].encode())
    assert key_slot(applied_events_key(sixteen[3], "p-0").encode()) == key_slot(sixteen[3].encode())
    assert not set(sixteen) & set(board_shard_keys(ALLTIME, 4))
    assert not set(sixteen) & {ALLTIME.key}


def test_the_setting_names_windows_and_counts() -> None:
    windows = tuple(Window)
    assert parse_board_shards("", windows) == dict.fromkeys(windows, 1)
    assert parse_board_shards(" alltime = 16 , weekly=4", windows) == {
        Window.DAILY: 1,
        Window.WEEKLY: 4,
        Window.MONTHLY: 1,
        Window.ALLTIME: 16,
    }
    settings = Settings.from_env({"BOARD_SHARDS": "alltime=16"})
    assert settings.board_shards[Window.ALLTIME] == 16


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("alltime", "window=count"),
        ("alltime=", "window=count"),
        ("=4", "window=count"),
        ("yearly=4", "unknown window 'yearly'"),
        ("alltime=0", "1..256"),
        ("alltime=257", "1..256"),
        ("alltime=-1", "1..256"),
        ("alltime=١٦", "1..256"),  # Arabic-Indic digits: int() would take them
        ("alltime=1e3", "1..256"),
        ("alltime=4,alltime=8", "twice"),
        ("alltime=4,", "window=count"),
    ],
)
def test_a_bad_setting_is_refused_naming_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="BOARD_SHARDS") as refused:
        Settings.from_env({"BOARD_SHARDS": text})
    assert named in str(refused.value)


def test_sharding_a_window_that_is_not_enabled_is_refused() -> None:
    with pytest.raises(ValueError, match="does not enable"):
        Settings.from_env({"BOARD_SHARDS": "daily=4", "LEADERBOARD_WINDOWS": "alltime"})


class NoRedis:
    """A client that fails the test if used: a refused page must be answered before any I/O."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"Redis was used ({name})")


def test_a_page_too_deep_for_a_sharded_board_is_refused_before_reading() -> None:
    reader = RedisBoardReader.__new__(RedisBoardReader)
    reader.client = NoRedis()  # type: ignore[assignment]
    reader.shards = {Window.ALLTIME: 16}
    with pytest.raises(PageTooDeep, match=f"at most {MAX_SHARDED_DEPTH}") as refused:
        reader.page(ALLTIME, MAX_SHARDED_DEPTH, 1, count_ahead=False)
    assert "16 shards" in str(refused.value)
