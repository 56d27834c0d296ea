"""The Redis adapter: boards as sorted sets, updated and read through Lua scripts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.commands.core import Script

from shared.keys import applied_offsets_key, board_key
from shared.redis_client import RedisClient
from shared.score_codec import MAX_TOTAL_POINTS, REACHED_SLOTS, decode_score

LUA_DIR = Path(__file__).with_name("lua")


class ReplicationLagging(RuntimeError):
    """Fewer replicas than required confirmed a write in time."""


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    user_id: str
    points: int


@dataclass(frozen=True, slots=True)
class PlayerStanding:
    standing: Standing
    total: int
    around: list[Standing]


@dataclass(frozen=True, slots=True)
class PendingScore:
    """One score event on its way into a board: Kafka offset, player, points, second reached."""

    offset: int
    user_id: str
    points: int
    reached_second: int


@dataclass(frozen=True, slots=True)
class ApplyResult:
    applied: int
    skipped: int


def _load(client: RedisClient, name: str) -> Script:
    return client.register_script((LUA_DIR / name).read_text())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _standings(flat: Sequence[Any], first_rank: int) -> list[Standing]:
    standings = []
    for index in range(0, len(flat), 2):
        decoded = decode_score(flat[index + 1])
        standings.append(Standing(rank=first_rank + index // 2, user_id=_text(flat[index]), points=decoded.points))
    return standings


class LeaderboardStore:
    def __init__(self, client: RedisClient, *, wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        self.client = client
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._apply = _load(client, "apply_scores.lua")
        self._top = _load(client, "top_entries.lua")
        self._standing = _load(client, "player_standing.lua")

    def apply(self, period: str, partition: str, scores: Iterable[PendingScore]) -> ApplyResult:
        """Apply one partition's scores (in offset order) to a board; already-applied offsets are skipped."""
        args: list[str | int] = [REACHED_SLOTS, MAX_TOTAL_POINTS, partition]
        for score in scores:
            args += (score.offset, score.user_id, score.points, score.reached_second)
        applied, skipped = self._apply(keys=[board_key(period), applied_offsets_key(period)], args=args)
        return ApplyResult(applied=int(applied), skipped=int(skipped))

    def wait_for_replicas(self) -> None:
        """Block until `wait_replicas` replicas hold every write made so far on this connection."""
        if self.wait_replicas <= 0:
            return
        acknowledged = int(
            self.client.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)  # type: ignore[no-untyped-call]
        )
        if acknowledged < self.wait_replicas:
            raise ReplicationLagging(
                f"{acknowledged} of {self.wait_replicas} replicas confirmed within {self.wait_timeout_ms} ms"
            )

    def top(self, period: str, offset: int, limit: int) -> tuple[int, list[Standing]]:
        total, flat = self._top(keys=[board_key(period)], args=[offset, offset + limit - 1])
        return int(total), _standings(flat, first_rank=offset + 1)

    def player(self, period: str, user_id: str, around: int) -> PlayerStanding | None:
        reply = self._standing(keys=[board_key(period)], args=[user_id, around])
        if len(reply) == 1:
            return None
        total, rank, score, first, flat = reply
        standing = Standing(rank=int(rank) + 1, user_id=user_id, points=decode_score(score).points)
        return PlayerStanding(standing=standing, total=int(total), around=_standings(flat, first_rank=int(first) + 1))

    def ping(self) -> bool:
        return bool(self.client.ping())
