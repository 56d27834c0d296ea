"""The Redis board reader: pages of a board and a player's standing, each one read-only Lua call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.adapters.keys import board_key
from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES, ReadOnlyScript, lua_source
from shared.application.queries import PlayerStanding, Standing
from shared.domain.errors import StoreUnavailable
from shared.domain.month_codec import decode_score


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _standings(flat: Sequence[Any], first_rank: int) -> list[Standing]:
    standings = []
    for index in range(0, len(flat), 2):
        decoded = decode_score(flat[index + 1])
        standings.append(Standing(rank=first_rank + index // 2, user_id=_text(flat[index]), points=decoded.points))
    return standings


class RedisBoardReader:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._top = ReadOnlyScript(client, lua_source("top_entries.lua"))
        self._standing = ReadOnlyScript(client, lua_source("player_standing.lua"))

    def top(self, period: str, offset: int, limit: int) -> tuple[int, list[Standing]]:
        try:
            total, flat = self._top(keys=[board_key(period)], args=[offset, offset + limit - 1])
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {period}: {error}") from error
        return int(total), _standings(flat, first_rank=offset + 1)

    def player(self, period: str, user_id: str, around: int) -> PlayerStanding | None:
        try:
            reply = self._standing(keys=[board_key(period)], args=[user_id, around])
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {period}: {error}") from error
        if len(reply) == 1:
            return None
        total, rank, score, first, flat = reply
        standing = Standing(rank=int(rank) + 1, user_id=user_id, points=decode_score(score).points)
        return PlayerStanding(standing=standing, total=int(total), around=_standings(flat, first_rank=int(first) + 1))
