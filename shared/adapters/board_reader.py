"""The Redis board reader: pages of a board and a player's neighbourhood, each one read-only Lua call,
and which boards exist, in one pipelined round trip.

A sharded board (docs/BOARDS.md#sharded-boards) is read in parallel rounds instead, one command or
script per shard in one pipeline (a cluster pipeline sends each node its share at once), and merged
exactly by shared.domain.sharding: a page in one round, a player's standing in two (three with
shared ranks). The shards are read one after another within a round, not in one snapshot, so
a page can mix moments a few milliseconds apart while scores move."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from redis.exceptions import NoScriptError

from shared.adapters.keys import board_shard_keys
from shared.adapters.redis_client import RedisClient, text_of
from shared.adapters.redis_scripts import REDIS_FAILURES, ReadOnlyScript, lua_source
from shared.application.queries import BoardSlice, Entry, PlayerSlice
from shared.domain.boards import Board, Window
from shared.domain.errors import StoreUnavailable
from shared.domain.sharding import (
    MAX_SHARDED_DEPTH,
    PageTooDeep,
    Ranked,
    home_shard,
    merge_around,
    merge_top,
    players_ahead_in,
)


def _entries(board: Board, flat: Sequence[Any]) -> tuple[Entry, ...]:
    return tuple(
        Entry(user_id=text_of(flat[index]), points=board.codec.points_of(flat[index + 1]))
        for index in range(0, len(flat), 2)
    )


def _count_ahead_args(board: Board, count_ahead: bool) -> list[int]:
    return [board.codec.slots] if count_ahead else []


def _ranked(flat: Sequence[Any]) -> list[Ranked]:
    return [Ranked(int(float(flat[index + 1])), text_of(flat[index])) for index in range(0, len(flat), 2)]


def _scored(pairs: Sequence[tuple[bytes | str, float]]) -> list[Ranked]:
    return [Ranked(int(score), text_of(member)) for member, score in pairs]


class RedisBoardReader:
    def __init__(self, client: RedisClient, *, shards: Mapping[Window, int] | None = None) -> None:
        self.client = client
        self.shards = dict(shards or {})
        self._page = ReadOnlyScript(client, lua_source("players_ahead.lua", "top_entries.lua"))
        self._around = ReadOnlyScript(client, lua_source("players_ahead.lua", "player_standing.lua"))
        self._shard_standing = lua_source("shard_standing.lua")
        self._shard_standing_sha = hashlib.sha1(self._shard_standing.encode()).hexdigest()

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        shards = self.shards.get(board.window, 1)
        if shards > 1:
            return self._sharded_page(board, board_shard_keys(board, shards), offset, limit, count_ahead=count_ahead)
        args = [offset, offset + limit - 1, *_count_ahead_args(board, count_ahead)]
        try:
            total, flat, *ahead = self._page(keys=[board.key], args=args)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
        return BoardSlice(
            total=int(total),
            first_index=offset,
            entries=_entries(board, flat),
            players_ahead=int(ahead[0]) if ahead else None,
        )

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        shards = self.shards.get(board.window, 1)
        if shards > 1:
            return self._sharded_around(board, board_shard_keys(board, shards), user_id, neighbours, count_ahead)
        args: list[str | int] = [user_id, neighbours, *_count_ahead_args(board, count_ahead)]
        try:
            reply = self._around(keys=[board.key], args=args)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
        if len(reply) == 1:
            return None
        total, rank, first, flat, *ahead = reply
        neighbourhood = BoardSlice(
            total=int(total),
            first_index=int(first),
            entries=_entries(board, flat),
            players_ahead=int(ahead[0]) if ahead else None,
        )
        return PlayerSlice(index=int(rank), neighbourhood=neighbourhood)

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        # One EXISTS per key: each board (and each shard of one) has a hash tag of its own, so under Redis
        # Cluster they sit in different slots, and redis-py sends each node its share of the pipeline.
        # A sharded board exists when any of its shards does.
        keys = [board_shard_keys(board, self.shards.get(board.window, 1)) for board in boards]
        pipeline = self.client.pipeline(transaction=False)
        for key in (key for shard_keys in keys for key in shard_keys):
            pipeline.exists(key)
        try:
            found = iter(pipeline.execute())
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"boards {', '.join(board.key for board in boards)}: {error}") from error
        held = [any([next(found) for _ in shard_keys]) for shard_keys in keys]
        return {board for board, exists in zip(boards, held, strict=True) if exists}

    def _sharded_page(
        self, board: Board, keys: Sequence[str], offset: int, limit: int, *, count_ahead: bool
    ) -> BoardSlice:
        # The page's entries could all sit in one shard, so every shard gives its first offset + limit.
        depth = offset + limit
        if depth > MAX_SHARDED_DEPTH:
            raise PageTooDeep(offset, limit, len(keys))
        pipeline = self.client.pipeline(transaction=False)
        for key in keys:
            pipeline.zcard(key)
            pipeline.zrevrange(key, 0, depth - 1, withscores=True)
        replies = self._execute(board, pipeline)
        total = sum(int(count) for count in replies[0::2])
        merged = merge_top((_scored(pairs) for pairs in replies[1::2]), depth)
        entries = tuple(Entry(member.user_id, board.codec.points_of(member.score)) for member in merged[offset:])
        ahead = None
        if count_ahead and entries:
            better_from = board.codec.min_score_for_points(entries[0].points + 1)
            ahead = players_ahead_in(merged, offset, better_from)
        return BoardSlice(total=total, first_index=offset, entries=entries, players_ahead=ahead)

    def _sharded_around(
        self, board: Board, keys: Sequence[str], user_id: str, neighbours: int, count_ahead: bool
    ) -> PlayerSlice | None:
        (score,) = self._round(board, [("ZSCORE", keys[home_shard(user_id, len(keys))], user_id)])
        if score is None:
            return None
        me = Ranked(int(float(score)), user_id)
        args = (me.score, user_id, neighbours)
        try:
            replies = self._round(board, [("EVALSHA_RO", self._shard_standing_sha, 1, key, *args) for key in keys])
        except StoreUnavailable as failure:
            if not isinstance(failure.__cause__, NoScriptError):
                raise
            # A node without the script (new, or restarted): send its text once; EVAL_RO caches it there.
            replies = self._round(board, [("EVAL_RO", self._shard_standing, 1, key, *args) for key in keys])
        total = sum(int(reply[0]) for reply in replies)
        before = sum(int(reply[1]) for reply in replies)
        first_index, members = merge_around((_ranked(reply[3]) for reply in replies), me, before, neighbours)
        ahead = None
        if count_ahead:
            better_from = board.codec.min_score_for_points(board.codec.points_of(members[0].score) + 1)
            counts = self._round(board, [("ZCOUNT", key, better_from, "+inf") for key in keys])
            ahead = sum(int(count) for count in counts)
        neighbourhood = BoardSlice(
            total=total,
            first_index=first_index,
            entries=tuple(Entry(member.user_id, board.codec.points_of(member.score)) for member in members),
            players_ahead=ahead,
        )
        return PlayerSlice(index=before, neighbourhood=neighbourhood)

    def _round(self, board: Board, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The commands in one pipeline: one round trip to each node holding a shard."""
        pipeline = self.client.pipeline(transaction=False)
        for command in commands:
            pipeline.execute_command(*command)
        return self._execute(board, pipeline)

    @staticmethod
    def _execute(board: Board, pipeline: Any) -> list[Any]:
        try:
            return list(pipeline.execute())
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
