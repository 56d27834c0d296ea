"""The Redis board writer: a partition's score events applied to a board, exactly once, in one Lua call."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from redis.cluster import ClusterNode, RedisCluster

from shared.adapters.keys import (
    applied_events_key,
    applied_offsets_key,
    hidden_scores_key,
    shadow_applied_events_key,
    shadow_applied_offsets_key,
    shadow_board_key,
    shadow_hidden_scores_key,
)
from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES, lua_source
from shared.application.apply import ApplyResult, PendingScore
from shared.domain.boards import Board
from shared.domain.errors import StoreUnavailable


class ReplicationLagging(RuntimeError):
    """A write was not confirmed by the required replicas: too few in time, or its node changed."""


# Producers' clocks (record timestamps) may disagree with each other and with the updater's by this much.
CLOCK_MARGIN_MS = 300_000
DAY_MS = 86_400_000


class RedisBoardWriter:
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
        # Event ids of a (board, partition) that gets no more records (a closed period) expire this long
        # after its last write; a retry that late would have to outlast the updater being stopped a day.
        self.keep_events_ms = 2 * self.remember_events_ms + DAY_MS
        self._apply_source = lua_source("apply_scores.lua")
        self._apply = client.register_script(self._apply_source)

    def apply(
        self,
        board: Board,
        partition: str,
        scores: Iterable[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
        into_shadow: bool = False,
    ) -> ApplyResult:
        """Apply one partition's scores (in offset order, each with its tick on this board) to the
        board, each event at most once; a player's total stops at the board codec's largest. Each
        record's tag says what it does: a score shown or hidden, or a moderation action moving a
        player's entry between the board and its hidden set (see apply_scores.lua).

        The board and its watermarks expire together at `expires_at_ms` (None: kept); from then on,
        by this process' clock, the call writes nothing and reports every record as past retention.

        `partition` names the partition within its Kafka cluster; `unscoped_partition` is its name in
        watermarks written before they were scoped by cluster (taken over on first use). Records at or
        below the board's watermark for it, and events it applied within the remembering window (in
        record time), are skipped; see shared/adapters/lua/apply_scores.lua.
        With `wait_replicas` set, it returns only once that many replicas hold the write, and raises
        ReplicationLagging otherwise: the caller reports the batch failed, and on redelivery the
        records are skipped as applied while the WAIT is asked again.
        `into_shadow` writes the board's rebuild shadow and its own watermarks instead (docs/ARCHIVE.md).
        """
        if into_shadow:
            keys = [
                shadow_board_key(board),
                shadow_applied_offsets_key(board),
                shadow_applied_events_key(board, partition),
                shadow_hidden_scores_key(board),
            ]
        else:
            keys = [
                board.key,
                applied_offsets_key(board),
                applied_events_key(board, partition),
                hidden_scores_key(board),
            ]
        args: list[str | int | bytes] = [
            board.codec.slots,
            board.codec.max_points,
            partition,
            unscoped_partition or partition,
            self.remember_events_ms,
            self.clock_margin_ms,
            time.time_ns() // 1_000_000,
            self.keep_events_ms,
            0 if expires_at_ms is None else expires_at_ms,
        ]
        for score in scores:
            args += score
        try:
            reply = self._apply(keys=keys, args=args) if self.wait_replicas <= 0 else self._apply_and_wait(keys, args)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
        applied, resets, redelivered, duplicates, unverified, capped, past_retention = reply
        return ApplyResult(
            int(applied),
            int(resets),
            redelivered=tuple(map(int, redelivered)),
            duplicates=tuple(map(int, duplicates)),
            unverified=tuple(map(int, unverified)),
            capped=int(capped),
            past_retention=tuple(map(int, past_retention)),
        )

    def _apply_and_wait(self, keys: list[str], args: list[str | int | bytes]) -> list[Any]:
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
