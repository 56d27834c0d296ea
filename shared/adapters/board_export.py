"""A closed board read out of Redis in rank order, a chunk per call, and its expiry once archived."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

from shared.adapters.keys import applied_offsets_key, hidden_scores_key
from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES
from shared.application.queries import Entry
from shared.domain.boards import Board
from shared.domain.errors import StoreUnavailable

_Scored = list[tuple[bytes | str, float]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisBoardExport:
    def __init__(self, client: RedisClient) -> None:
        self.client = client

    def size(self, board: Board) -> int:
        try:
            return int(self.client.zcard(board.key))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error

    def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
        start = 0
        points_of = board.codec.points_of  # Board.codec parses the period each time
        while True:
            try:
                # By index, not by score: each call is O(log n + chunk), so no call holds Redis for long.
                flat = self.client.zrevrange(board.key, start, start + chunk - 1, withscores=True)
            except REDIS_FAILURES as error:
                raise StoreUnavailable(f"board {board.key}: {error}") from error
            if not flat:
                return
            yield [Entry(_text(member), points_of(score)) for member, score in cast(_Scored, flat)]
            if len(flat) < chunk:
                return
            start += chunk

    def expire(self, board: Board, at_ms: int) -> None:
        # Board and watermarks together, as the apply script sets them: one without the other would
        # apply redelivered records again, or skip records as applied.
        pipeline = self.client.pipeline(transaction=False)
        pipeline.pexpireat(board.key, at_ms)
        pipeline.pexpireat(applied_offsets_key(board), at_ms)
        pipeline.pexpireat(hidden_scores_key(board), at_ms)
        try:
            pipeline.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
