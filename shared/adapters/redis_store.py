"""The Redis adapter: boards as sorted sets, updated and read through Lua scripts."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from shared.adapters.keys import applied_events_key, applied_offsets_key, board_key
from shared.adapters.redis_client import RedisClient
from shared.application.apply import ApplyResult, PendingScore
from shared.domain.errors import StoreUnavailable
from shared.domain.month_codec import MAX_TOTAL_POINTS, REACHED_SLOTS, decode_score

LUA_DIR = Path(__file__).with_name("lua")
REDIS_FAILURES = (RedisError, RedisClusterException)


class ReplicationLagging(RuntimeError):
    """A write was not confirmed by the required replicas: too few in time, or its node changed."""


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


# Producers' clocks (record timestamps) may disagree with each other and with the updater's by this much.
CLOCK_MARGIN_MS = 300_000
DAY_MS = 86_400_000


def _source(name: str) -> str:
    return (LUA_DIR / name).read_text()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _standings(flat: Sequence[Any], first_rank: int) -> list[Standing]:
    standings = []
    for index in range(0, len(flat), 2):
        decoded = decode_score(flat[index + 1])
        standings.append(Standing(rank=first_rank + index // 2, user_id=_text(flat[index]), points=decoded.points))
    return standings


class ReadOnlyScript:
    """A Lua script that only reads, run with EVALSHA_RO (Redis 7+): a Redis user allowed nothing
    but reads may run it. EVAL_RO loads it where it is missing, so no SCRIPT LOAD is needed."""

    def __init__(self, client: RedisClient, source: str) -> None:
        self._client = client
        self._source = source
        self._sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        try:
            return self._client.evalsha_ro(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            return self._client.eval_ro(self._source, len(keys), *keys, *args)


class LeaderboardStore:
    def __init__(
        self,
        client: RedisClient,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        remember_events_seconds: int = 3600,
    ) -> None:
        self.client = client
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.remember_events_ms = remember_events_seconds * 1000
        self.clock_margin_ms = min(CLOCK_MARGIN_MS, self.remember_events_ms // 2)
        # Event ids of a (board, partition) that gets no more records (a closed month) expire this long
        # after its last write; a retry that late would have to outlast the updater being stopped a day.
        self.keep_events_ms = 2 * self.remember_events_ms + DAY_MS
        self._apply_source = _source("apply_scores.lua")
        self._apply = client.register_script(self._apply_source)
        self._top = ReadOnlyScript(client, _source("top_entries.lua"))
        self._standing = ReadOnlyScript(client, _source("player_standing.lua"))

    def apply(
        self, period: str, partition: str, scores: Iterable[PendingScore], *, unscoped_partition: str = ""
    ) -> ApplyResult:
        """Apply one partition's scores (in offset order) to a board, each event at most once.

        `partition` names the partition within its Kafka cluster; `unscoped_partition` is its name in
        watermarks written before they were scoped by cluster (taken over on first use). Records at or
        below the board's watermark for it, and events it applied within the remembering window (in
        record time), are skipped; see shared/adapters/lua/apply_scores.lua.
        With `wait_replicas` set, it returns only once that many replicas hold the write, and raises
        ReplicationLagging otherwise: the caller reports the batch failed, and on redelivery the
        records are skipped as applied while the WAIT is asked again.
        """
        keys = [board_key(period), applied_offsets_key(period), applied_events_key(period, partition)]
        args: list[str | int | bytes] = [
            REACHED_SLOTS,
            MAX_TOTAL_POINTS,
            partition,
            unscoped_partition or partition,
            self.remember_events_ms,
            self.clock_margin_ms,
            time.time_ns() // 1_000_000,
            self.keep_events_ms,
        ]
        for score in scores:
            args += score
        try:
            reply = self._apply(keys=keys, args=args) if self.wait_replicas <= 0 else self._apply_and_wait(keys, args)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {period}: {error}") from error
        applied, redelivered, duplicates, resets, unverified = (int(count) for count in reply)
        return ApplyResult(applied, redelivered, duplicates, resets, unverified)

    def _apply_and_wait(self, keys: list[str], args: list[str | int | bytes]) -> list[int]:
        # WAIT counts the replicas holding the writes made on *its own connection*, so the script and
        # the WAIT go in one pipeline: one connection, and in a cluster the node owning the board's slot.
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command("EVAL", self._apply_source, len(keys), *keys, *args)
        owner: ClusterNode | None = None
        if isinstance(self.client, RedisCluster):
            owner = self._slot_owner(self.client, keys[0])
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms, target_nodes=owner)
        else:
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_timeout_ms)
        counts, acknowledged = pipe.execute()
        if isinstance(self.client, RedisCluster) and self._slot_owner(self.client, keys[0]) != owner:
            # The script was redirected (MOVED after a failover), so the WAIT asked the former owner.
            raise ReplicationLagging(f"{keys[0]} changed nodes during the write")
        if int(acknowledged) < self.wait_replicas:
            raise ReplicationLagging(
                f"{acknowledged} of {self.wait_replicas} replicas confirmed within {self.wait_timeout_ms} ms"
            )
        return list(counts)

    @staticmethod
    def _slot_owner(cluster: RedisCluster, key: str) -> ClusterNode:
        node: ClusterNode = cluster.get_node_from_key(key)  # type: ignore[no-untyped-call]
        return node

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
