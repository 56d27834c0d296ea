"""The Redis board writer: a partition's score events applied to a board, exactly once, in one Lua call."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack
from redis.cluster import ClusterNode, RedisCluster

from shared.adapters.keys import (
    applied_events_key,
    applied_offsets_key,
    board_shard_keys,
    hidden_scores_key,
    shadow_board_key,
)
from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES, lua_source
from shared.application.apply import ApplyResult, PendingScore
from shared.domain.boards import Board, Window
from shared.domain.errors import StoreUnavailable
from shared.domain.sharding import home_shard


class ReplicationLagging(RuntimeError):
    """A write was not confirmed by the required replicas: too few in time, or its node changed."""


# Producers' clocks (record timestamps) may disagree with each other and with the updater's by this much.
CLOCK_MARGIN_MS = 300_000
DAY_MS = 86_400_000


def packed_records(scores: Iterable[PendingScore]) -> bytes:
    """The apply script's records argument: one MessagePack array of PendingScore arrays.

    One argument instead of seven per record: redis-py encodes every argument in Python (about 1 µs
    each, as much as the script's own work per record), while this is one C call. Strings go as
    MessagePack's raw type, not bin: the cmsgpack in Redis's and Valkey's Lua predates bin.
    """
    packed: bytes = msgpack.packb(scores if isinstance(scores, list) else list(scores), use_bin_type=False)
    return packed


class RedisBoardWriter:
    def __init__(
        self,
        client: RedisClient,
        *,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        remember_events_seconds: int = 3600,
        shards: Mapping[Window, int] | None = None,
    ) -> None:
        self.client = client
        self.shards = dict(shards or {})
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

        A board of a window with `shards` > 1 (docs/BOARDS.md#sharded-boards) gets one script call per
        shard its records' players live in, each with that shard's own watermarks and remembered ids.
        """
        shards = self.shards.get(board.window, 1)
        shard_keys = board_shard_keys(board, shards)
        if into_shadow:
            shard_keys = tuple(shadow_board_key(key) for key in shard_keys)
        arguments: list[str | int | bytes] = [
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
        if shards == 1:
            calls = [(self._apply_keys(shard_keys[0], partition), [*arguments, packed_records(scores)])]
        else:
            # Each shard is a board of its own to the apply script: its own watermarks and remembered
            # ids, so each applies its players' records exactly once whatever happens to the others.
            by_shard: dict[int, list[PendingScore]] = {}
            for score in scores:
                by_shard.setdefault(home_shard(score.user_id, shards), []).append(score)
            calls = [
                (self._apply_keys(shard_keys[shard], partition), [*arguments, packed_records(records)])
                for shard, records in sorted(by_shard.items())
            ]
        try:
            replies = self._run(calls)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"board {board.key}: {error}") from error
        return _combined(replies)

    @staticmethod
    def _apply_keys(shard_key: str, partition: str) -> list[str]:
        return [
            shard_key,
            applied_offsets_key(shard_key),
            applied_events_key(shard_key, partition),
            hidden_scores_key(shard_key),
        ]

    def _run(self, calls: Sequence[tuple[list[str], list[str | int | bytes]]]) -> list[Any]:
        if self.wait_replicas > 0:
            return [self._apply_and_wait(keys, args) for keys, args in calls]
        if len(calls) == 1:
            keys, args = calls[0]
            return [self._apply(keys=keys, args=args)]
        # One round for every shard: a cluster pipeline writes to each node, then reads every reply.
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            pipe.execute_command("EVAL", self._apply_source, len(keys), *keys, *args)
        return list(pipe.execute())

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


def _combined(replies: Sequence[Any]) -> ApplyResult:
    """One result for the shards' replies: each record went to exactly one shard."""
    applied = resets = capped = 0
    redelivered: list[int] = []
    duplicates: list[int] = []
    unverified: list[int] = []
    past_retention: list[int] = []
    for reply in replies:
        applied_here, resets_here, redelivered_here, duplicates_here, unverified_here, capped_here, expired = reply
        applied += int(applied_here)
        resets += int(resets_here)
        capped += int(capped_here)
        redelivered += map(int, redelivered_here)
        duplicates += map(int, duplicates_here)
        unverified += map(int, unverified_here)
        past_retention += map(int, expired)
    return ApplyResult(
        applied,
        resets,
        redelivered=tuple(sorted(redelivered)),
        duplicates=tuple(sorted(duplicates)),
        unverified=tuple(sorted(unverified)),
        capped=capped,
        past_retention=tuple(sorted(past_retention)),
    )
