"""A board's keys under any shard count, for the reshard command (shared/application/reshard.py).

Every key name comes from shared/adapters/keys.py; a layout of S shards is `board_shard_keys(board, S)`
with each shard's watermarks, remembered ids and hidden set named from its key."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from redis.typing import EncodableT, FieldT

from shared.adapters.board_export import merged_members
from shared.adapters.keys import (
    applied_events_key,
    applied_offsets_key,
    board_shard_keys,
    hidden_scores_key,
    rebuild_lock_key,
    reshard_progress_key,
)
from shared.adapters.redis_client import RedisClient, text_of
from shared.adapters.redis_scripts import REDIS_FAILURES, lua_source
from shared.application.reshard import COPY_CHUNK, LayoutPart
from shared.domain.boards import Board
from shared.domain.errors import StoreUnavailable
from shared.domain.sharding import Ranked

_Scored = list[tuple[bytes | str, float]]
NO_EXPIRY = -1


class RedisBoardLayouts:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._unlock = client.register_script(lua_source("release_rebuild_lock.lua"))

    def _failed(self, board: Board, error: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"resharding {board.key}: {error}")

    @staticmethod
    def _set_key(board: Board, shards: int, shard: int, part: LayoutPart) -> str:
        key = board_shard_keys(board, shards)[shard]
        return hidden_scores_key(key) if part is LayoutPart.HIDDEN else key

    def lock(self, board: Board, token: str, ttl_ms: int) -> bool:
        try:
            return bool(self.client.set(rebuild_lock_key(board), token, nx=True, px=ttl_ms))
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def unlock(self, board: Board, token: str) -> None:
        try:
            self._unlock(keys=[rebuild_lock_key(board)], args=[token])
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def progress(self, board: Board, shards: int) -> dict[str, str]:
        try:
            fields = self.client.hgetall(reshard_progress_key(board, shards))
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error
        return {text_of(name): text_of(value) for name, value in fields.items()}

    def save_progress(self, board: Board, shards: int, fields: Mapping[str, str]) -> None:
        try:
            self.client.hset(reshard_progress_key(board, shards), mapping=_mapping(fields))
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def forget_progress(self, board: Board, shards: int) -> None:
        try:
            self.client.delete(reshard_progress_key(board, shards))
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def holds_data(self, board: Board, shards: int) -> bool:
        keys = [
            name
            for key in board_shard_keys(board, shards)
            for name in (key, applied_offsets_key(key), hidden_scores_key(key))
        ]
        try:
            return int(self.client.exists(*keys)) > 0
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def watermarks(self, board: Board, shards: int) -> list[dict[str, str]]:
        pipeline = self.client.pipeline(transaction=False)
        for key in board_shard_keys(board, shards):
            pipeline.hgetall(applied_offsets_key(key))
        try:
            replies = pipeline.execute()
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error
        return [{text_of(name): text_of(value) for name, value in fields.items()} for fields in replies]

    def _range(self, board: Board, key: str, start: int) -> _Scored:
        try:
            # By index: each call is O(log n + chunk). The old layout holds still (the updater is paused).
            return cast(_Scored, self.client.zrevrange(key, start, start + COPY_CHUNK - 1, withscores=True))
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def members(self, board: Board, shards: int, shard: int, part: LayoutPart, start: int) -> list[tuple[str, int]]:
        scored = self._range(board, self._set_key(board, shards, shard, part), start)
        return [(text_of(member), int(score)) for member, score in scored]

    def remembered(self, board: Board, shards: int, shard: int, partition: str, start: int) -> list[tuple[bytes, int]]:
        # Event ids are stored as their 16 raw bytes.
        scored = self._range(board, applied_events_key(board_shard_keys(board, shards)[shard], partition), start)
        return [(member if isinstance(member, bytes) else member.encode(), int(score)) for member, score in scored]

    def _write(
        self,
        board: Board,
        shards: int,
        sets: Mapping[str, Sequence[tuple[Any, int]]],
        progress: Mapping[str, str],
    ) -> None:
        # The progress is written after the members: a chunk added again after a crash between the two
        # gives every member the score it already has.
        pipeline = self.client.pipeline(transaction=False)
        for key, scored in sets.items():
            if scored:
                pipeline.zadd(key, {member: score for member, score in scored})
        pipeline.hset(reshard_progress_key(board, shards), mapping=_mapping(progress))
        try:
            pipeline.execute()
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def add_members(
        self,
        board: Board,
        shards: int,
        part: LayoutPart,
        by_shard: Mapping[int, Sequence[tuple[str, int]]],
        progress: Mapping[str, str],
    ) -> None:
        sets = {self._set_key(board, shards, shard, part): scored for shard, scored in by_shard.items()}
        self._write(board, shards, sets, progress)

    def remember(
        self,
        board: Board,
        shards: int,
        partition: str,
        event_ids: Sequence[tuple[bytes, int]],
        progress: Mapping[str, str],
    ) -> None:
        # An event id carries no player, so every new shard remembers every id of the partition.
        sets = {applied_events_key(key, partition): event_ids for key in board_shard_keys(board, shards)}
        self._write(board, shards, sets, progress)

    def _expiry(self, keys: Sequence[str]) -> int:
        """The latest expiry (epoch ms) of the keys that exist; NO_EXPIRY when one of them is kept."""
        pipeline = self.client.pipeline(transaction=False)
        for key in keys:
            pipeline.pexpiretime(key)
        times = [int(at) for at in pipeline.execute() if int(at) != -2]
        return NO_EXPIRY if not times or NO_EXPIRY in times else max(times)

    def finish(
        self, board: Board, from_shards: int, to_shards: int, watermarks: Mapping[str, str], partitions: Sequence[str]
    ) -> None:
        old_keys, new_keys = board_shard_keys(board, from_shards), board_shard_keys(board, to_shards)
        try:
            board_expiry = self._expiry(old_keys)
            events_expiry = {
                partition: self._expiry([applied_events_key(key, partition) for key in old_keys])
                for partition in partitions
            }
            pipeline = self.client.pipeline(transaction=False)
            for key in new_keys:
                if watermarks:
                    pipeline.hset(applied_offsets_key(key), mapping=_mapping(watermarks))
                if board_expiry != NO_EXPIRY:
                    for expiring in (key, applied_offsets_key(key), hidden_scores_key(key)):
                        pipeline.pexpireat(expiring, board_expiry)
                for partition, at in events_expiry.items():
                    if at != NO_EXPIRY:
                        pipeline.pexpireat(applied_events_key(key, partition), at)
            pipeline.execute()
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def size(self, board: Board, shards: int, part: LayoutPart) -> int:
        pipeline = self.client.pipeline(transaction=False)
        for shard in range(shards):
            pipeline.zcard(self._set_key(board, shards, shard, part))
        try:
            return sum(int(count) for count in pipeline.execute())
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error

    def ordered(
        self, board: Board, shards: int, part: LayoutPart, starts: Sequence[int] | None = None
    ) -> Iterator[Ranked]:
        keys = [self._set_key(board, shards, shard, part) for shard in range(shards)]
        return merged_members(self.client, keys, COPY_CHUNK, f"resharding {board.key}", starts)

    def delete(self, board: Board, shards: int, partitions: Sequence[str]) -> None:
        keys = [reshard_progress_key(board, shards)]
        for key in board_shard_keys(board, shards):
            keys += [key, applied_offsets_key(key), hidden_scores_key(key)]
            keys += [applied_events_key(key, partition) for partition in partitions]
        try:
            # UNLINK: a large sorted set is freed off Redis's main thread.
            self.client.unlink(*keys)
        except REDIS_FAILURES as error:
            raise self._failed(board, error) from error


def _mapping(fields: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    return dict(fields.items())
