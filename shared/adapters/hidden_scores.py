"""Banned players' points, read from each board's hidden set (keys.hidden_scores_key) in one pipelined round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.adapters.keys import hidden_scores_key, home_shard_key
from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES
from shared.domain.boards import Board, Window
from shared.domain.errors import StoreUnavailable


class RedisHiddenScores:
    def __init__(self, client: RedisClient, *, shards: Mapping[Window, int] | None = None) -> None:
        self.client = client
        self.shards = dict(shards or {})

    def hidden_points(self, user_id: str, boards: Sequence[Board]) -> dict[Board, int]:
        # One ZSCORE per board: each hidden set shares its board's hash tag, so under Redis Cluster
        # they sit in different slots and redis-py sends each node its share of the pipeline.
        pipeline = self.client.pipeline(transaction=False)
        for board in boards:
            shard = home_shard_key(board, self.shards.get(board.window, 1), user_id)
            pipeline.zscore(hidden_scores_key(shard), user_id)
        try:
            scores = pipeline.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"hidden scores of {user_id!r}: {error}") from error
        return {
            board: board.codec.points_of(int(score))
            for board, score in zip(boards, scores, strict=True)
            if score is not None
        }
