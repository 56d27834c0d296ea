"""Sharded boards: one board's players spread over S sorted sets, and the merges that keep reads exact. No I/O.

A window may give its boards a shard count S (BOARD_SHARDS, docs/BOARDS.md#sharded-boards). A
player lives in one shard, their home shard, picked by a stable hash of the user id: CRC-32 of its
UTF-8 bytes, modulo S. (Python's hash() changes between processes; CRC-32 never does.)

Within a shard Redis orders members as one sorted set would: higher score first, and equal scores
by member bytes, the larger first (ZREVRANGE). UTF-8 keeps code point order, so comparing the ids
as Python strings gives the same order. Each merge below rebuilds the one-set order from the
shards' own ordered pieces, so a sharded board answers exactly what an unsharded one would.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from shared.domain.boards import Window

_Value = TypeVar("_Value")

MAX_BOARD_SHARDS = 256
# A sharded page reads offset + limit entries from every shard (the deepest page's entries could all
# sit in one shard), so the deepest page it serves is bounded: S * (offset + limit) entries per read.
MAX_SHARDED_DEPTH = 10_000


class PageTooDeep(ValueError):
    """A page of a sharded board beyond MAX_SHARDED_DEPTH: a client's mistake, answered with a 400."""

    def __init__(self, offset: int, limit: int, shards: int) -> None:
        self.offset = offset
        super().__init__(
            f"offset + limit must be at most {MAX_SHARDED_DEPTH} on a board split into {shards} shards, "
            f"got {offset} + {limit}: deeper pages would read {shards} x that many entries"
        )


def home_shard(user_id: str, shards: int) -> int:
    """The shard (0..shards - 1) a player's score lives in."""
    if shards == 1:
        return 0
    return zlib.crc32(user_id.encode("utf-8", "surrogatepass")) % shards


@dataclass(frozen=True, slots=True)
class Ranked:
    """One member as a shard returns it: its integer score and user id."""

    score: int
    user_id: str

    def order(self) -> tuple[int, str]:
        """Sorts descending in the board's order (ZREVRANGE)."""
        return (self.score, self.user_id)


def merge_ordered(pieces: Iterable[Iterable[Ranked]]) -> Iterator[Ranked]:
    """The shards' members in the board's order, lazily, from each shard's members in that order."""
    return heapq.merge(*pieces, key=Ranked.order, reverse=True)


def merge_top(pieces: Iterable[Iterable[Ranked]], count: int) -> list[Ranked]:
    """The first `count` members of the board from each shard's own first `count` (each in board order)."""
    return list(islice(merge_ordered(pieces), count))


def players_ahead_in(prefix: Sequence[Ranked], first_index: int, better_from: int) -> int:
    """Players scoring at least `better_from` (the lowest score of one point more than the entry at
    `first_index`), counted in the board's first entries: exact when `prefix` holds every position
    before `first_index`, since every such player ranks above that entry."""
    return sum(1 for member in prefix[:first_index] if member.score >= better_from)


def merge_around(
    pieces: Iterable[Sequence[Ranked]], player: Ranked, players_before: int, neighbours: int
) -> tuple[int, list[Ranked]]:
    """The player with up to `neighbours` on each side, and the board index of the first of them.

    `players_before` is the sum over shards of the members ahead of the player. Each piece holds
    its shard's members around the player's place in that shard: up to `neighbours` just ahead
    and up to `neighbours` just behind. The board's neighbours are among them: the nearest k
    members ahead on the board are each among the nearest k ahead in their own shard.
    """
    everyone = sorted({member for piece in pieces for member in piece} | {player}, key=Ranked.order, reverse=True)
    at = everyone.index(player)
    first = max(0, at - neighbours)
    return players_before - (at - first), everyone[first : at + neighbours + 1]


def parse_board_shards(text: str, windows: Sequence[Window], *, setting: str = "BOARD_SHARDS") -> dict[Window, int]:
    """`alltime=16,weekly=4`: the shard count of each window named; the others keep 1 (one key per board)."""
    shards: dict[Window, int] = {window: 1 for window in windows}
    if not text.strip():
        return shards
    known = {window.value: window for window in Window}
    named: set[Window] = set()
    for entry in text.split(","):
        name, equals, count = (part.strip() for part in entry.partition("="))
        if not equals or not name or not count:
            raise ValueError(f"{setting} entries look like window=count (e.g. alltime=16), got {entry.strip()!r}")
        if name not in known:
            raise ValueError(f"{setting} names an unknown window {name!r}; known: {', '.join(known)}")
        window = known[name]
        if window in named:
            raise ValueError(f"{setting} names the {name} window twice")
        named.add(window)
        if window not in windows:
            raise ValueError(f"{setting} shards the {name} window, which LEADERBOARD_WINDOWS does not enable")
        if not count.isascii() or not count.isdigit() or not 1 <= int(count) <= MAX_BOARD_SHARDS:
            raise ValueError(f"{setting}: the {name} shard count must be 1..{MAX_BOARD_SHARDS}, got {count!r}")
        shards[window] = int(count)
    return shards


def shard_counts(shards: Mapping[Window, int]) -> str:
    """The setting's text for a mapping, e.g. for the template and the bench."""
    return ",".join(f"{window}={count}" for window, count in shards.items() if count > 1)


def check_reshard(from_shards: int, to_shards: int) -> None:
    """A layout change the reshard command can make (docs/BOARDS.md#resharding-changing-s-on-a-live-board);
    ValueError naming what is wrong otherwise."""
    for name, count in (("from_shards", from_shards), ("to_shards", to_shards)):
        if not 1 <= count <= MAX_BOARD_SHARDS:
            raise ValueError(f"{name} must be 1..{MAX_BOARD_SHARDS}, got {count}")
    if from_shards == to_shards:
        raise ValueError(f"from_shards and to_shards are both {from_shards}: the board already has that layout")


def split_by_home_shard(members: Iterable[tuple[str, _Value]], shards: int) -> dict[int, list[tuple[str, _Value]]]:
    """(user id, value) pairs grouped by the players' home shard among `shards`, in their given order."""
    by_shard: dict[int, list[tuple[str, _Value]]] = {}
    for user_id, value in members:
        by_shard.setdefault(home_shard(user_id, shards), []).append((user_id, value))
    return by_shard
