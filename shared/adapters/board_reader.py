"""The Redis board reader: pages of a board and a player's neighbourhood, each one read-only Lua call,
and which boards exist, in one pipelined round trip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES, ReadOnlyScript, lua_source
from shared.application.queries import BoardSlice, Entry, PlayerSlice
from shared.domain.boards import Board
from shared.domain.errors import StoreUnavailable


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entries(board: Board, flat: Sequence[Any]) -> tuple[Entry, ...]:
    return tuple(
        Entry(user_id=_text(flat[index]), points=board.codec.points_of(flat[index + 1]))
        for index in range(0, len(flat), 2)
    )


def _count_ahead_args(board: Board, count_ahead: bool) -> list[int]:
    return [board.codec.slots] if count_ahead else []


class RedisBoardReader:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._page = ReadOnlyScript(client, lua_source("players_ahead.lua", "top_entries.lua"))
        self._around = ReadOnlyScript(client, lua_source("players_ahead.lua", "player_standing.lua"))

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
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
        # One EXISTS per key: each board has a hash tag of its own, so under Redis Cluster they sit in
        # different slots, and redis-py sends each node its share of the pipeline.
        pipeline = self.client.pipeline(transaction=False)
        for board in boards:
            pipeline.exists(board.key)
        try:
            found = pipeline.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"boards {', '.join(board.key for board in boards)}: {error}") from error
        return {board for board, exists in zip(boards, found, strict=True) if exists}
