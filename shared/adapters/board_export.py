"""A closed board read out of Redis in rank order, a chunk per call, and its expiry once archived.

A sharded board (docs/BOARDS.md#sharded-boards) is read a chunk per shard at a time and merged
into the board's order (shared.domain.sharding), so the archive is the same whatever the layout."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import cast

from shared.adapters.keys import applied_offsets_key, board_shard_keys, hidden_scores_key
from shared.adapters.redis_client import RedisClient, text_of
from shared.adapters.redis_scripts import REDIS_FAILURES
from shared.application.queries import Entry
from shared.domain.boards import Board, Window
from shared.domain.errors import StoreUnavailable
from shared.domain.sharding import Ranked, merge_ordered

_Scored = list[tuple[bytes | str, float]]


def ranked_chunks(
    client: RedisClient, key: str, chunk: int, what: str, start: int = 0
) -> Iterator[list[tuple[str, float]]]:
    """The sorted set at `key`, best first from index `start`, `chunk` members a call: (member, score).
    A Redis failure is StoreUnavailable naming `what`."""
    while True:
        try:
            # By index, not by score: each call is O(log n + chunk), so no call holds Redis for long.
            flat = client.zrevrange(key, start, start + chunk - 1, withscores=True)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"{what}: {error}") from error
        if not flat:
            return
        yield [(text_of(member), score) for member, score in cast(_Scored, flat)]
        if len(flat) < chunk:
            return
        start += chunk


def merged_members(
    client: RedisClient, keys: Sequence[str], chunk: int, what: str, starts: Sequence[int] | None = None
) -> Iterator[Ranked]:
    """The members of sorted sets sharded by player (`keys`), merged lazily into one set's order, raw
    scores; each set read from its index in `starts` (default: from its first member)."""
    shards = [
        (
            Ranked(int(score), member)
            for scored in ranked_chunks(client, key, chunk, what, starts[shard] if starts else 0)
            for member, score in scored
        )
        for shard, key in enumerate(keys)
    ]
    return merge_ordered(shards)


class RedisBoardExport:
    def __init__(self, client: RedisClient, *, shards: Mapping[Window, int] | None = None) -> None:
        self.client = client
        self.shards = dict(shards or {})

    def _keys(self, board: Board) -> tuple[str, ...]:
        return board_shard_keys(board, self.shards.get(board.window, 1))

    def size(self, board: Board) -> int:
        try:
            return sum(int(self.client.zcard(key)) for key in self._keys(board))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error

    def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
        keys = self._keys(board)
        points_of = board.codec.points_of  # Board.codec parses the period each time
        if len(keys) == 1:
            for members in self._members(board, keys[0], chunk):
                yield [Entry(member.user_id, points_of(member.score)) for member in members]
            return
        merged = merged_members(self.client, keys, chunk, f"board {board.key}")
        while members := list(islice(merged, chunk)):
            yield [Entry(member.user_id, points_of(member.score)) for member in members]

    def _members(self, board: Board, key: str, chunk: int) -> Iterator[list[Ranked]]:
        for scored in ranked_chunks(self.client, key, chunk, f"board {board.key}"):
            yield [Ranked(int(score), member) for member, score in scored]

    def expire(self, board: Board, at_ms: int) -> None:
        # Board and watermarks together, as the apply script sets them: one without the other would
        # apply redelivered records again, or skip records as applied.
        pipeline = self.client.pipeline(transaction=False)
        for key in self._keys(board):
            pipeline.pexpireat(key, at_ms)
            pipeline.pexpireat(applied_offsets_key(key), at_ms)
            pipeline.pexpireat(hidden_scores_key(key), at_ms)
        try:
            pipeline.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
