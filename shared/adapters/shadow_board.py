"""A board's rebuild shadow in Redis: its keys (shared/adapters/keys.py), lock, progress and swap."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from redis.typing import EncodableT, FieldT

from shared.adapters.board_export import ranked_chunks
from shared.adapters.keys import (
    applied_events_key,
    applied_offsets_key,
    hidden_scores_key,
    rebuild_lock_key,
    rebuild_progress_key,
    shadow_applied_events_key,
    shadow_applied_offsets_key,
    shadow_board_key,
    shadow_hidden_scores_key,
)
from shared.adapters.redis_client import RedisClient, text_of
from shared.adapters.redis_scripts import REDIS_FAILURES, lua_source
from shared.application.queries import Entry
from shared.domain.boards import Board
from shared.domain.errors import StoreUnavailable


def _mapping(fields: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    return dict(fields.items())


class RedisShadowBoard:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._swap = client.register_script(lua_source("swap_rebuilt_board.lua"))
        self._unlock = client.register_script(lua_source("release_rebuild_lock.lua"))

    def lock(self, board: Board, token: str, ttl_ms: int) -> bool:
        try:
            return bool(self.client.set(rebuild_lock_key(board), token, nx=True, px=ttl_ms))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild lock of {board.key}: {error}") from error

    def unlock(self, board: Board, token: str) -> None:
        try:
            self._unlock(keys=[rebuild_lock_key(board)], args=[token])
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild lock of {board.key}: {error}") from error

    def progress(self, board: Board) -> dict[str, str]:
        try:
            fields = self.client.hgetall(rebuild_progress_key(board))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild progress of {board.key}: {error}") from error
        return {text_of(name): text_of(value) for name, value in fields.items()}

    def save_progress(self, board: Board, fields: Mapping[str, str]) -> None:
        if not fields:
            return
        try:
            self.client.hset(rebuild_progress_key(board), mapping=_mapping(fields))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild progress of {board.key}: {error}") from error

    def _partitions(self, board: Board) -> list[str]:
        fields = self.client.hkeys(shadow_applied_offsets_key(board))
        return sorted(name for name in map(text_of, fields) if not name.endswith("@ts"))

    def discard(self, board: Board) -> None:
        try:
            events = [shadow_applied_events_key(board, partition) for partition in self._partitions(board)]
            self.client.delete(
                shadow_board_key(board),
                shadow_hidden_scores_key(board),
                shadow_applied_offsets_key(board),
                rebuild_progress_key(board),
                *events,
            )
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild shadow of {board.key}: {error}") from error

    def add(self, board: Board, scores: Sequence[tuple[str, int]], progress: Mapping[str, str]) -> None:
        # No MULTI (the updater's Redis user may not run it): the progress is written after the page,
        # and a page added again after a crash between the two gives every member the same score again.
        pipeline = self.client.pipeline(transaction=False)
        if scores:
            pipeline.zadd(shadow_board_key(board), {member: score for member, score in scores})
        pipeline.hset(rebuild_progress_key(board), mapping=_mapping(progress))
        try:
            pipeline.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild shadow of {board.key}: {error}") from error

    def size(self, board: Board) -> int:
        try:
            return int(self.client.zcard(shadow_board_key(board)))
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"rebuild shadow of {board.key}: {error}") from error

    def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
        points_of = board.codec.points_of  # Board.codec parses the period each time
        for scored in ranked_chunks(self.client, shadow_board_key(board), chunk, f"rebuild shadow of {board.key}"):
            yield [Entry(member, points_of(score)) for member, score in scored]

    def _swap_keys(self, board: Board, pairs: Sequence[str]) -> list[str]:
        keys = [
            board.key,
            applied_offsets_key(board),
            shadow_board_key(board),
            shadow_applied_offsets_key(board),
            rebuild_lock_key(board),
            rebuild_progress_key(board),
            hidden_scores_key(board),
            shadow_hidden_scores_key(board),
        ]
        for partition in pairs:
            keys += [shadow_applied_events_key(board, partition), applied_events_key(board, partition)]
        return keys

    def swap_replayed(self, board: Board, token: str) -> str | None:
        try:
            partitions = self._partitions(board)
            reply = self._swap(keys=self._swap_keys(board, partitions), args=[token, "replay", 0, *partitions])
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"swapping the rebuilt {board.key}: {error}") from error
        if int(reply[0]) == 1:
            return None
        partition, live, reached = (text_of(part) for part in reply[1:4])
        return f"{partition} (live board at offset {live}, shadow at {reached})"

    def swap_restored(self, board: Board, token: str, expires_at_ms: int) -> None:
        try:
            self._swap(keys=self._swap_keys(board, []), args=[token, "archive", expires_at_ms])
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"swapping the restored {board.key}: {error}") from error
