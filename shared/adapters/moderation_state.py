"""Who is banned, in Redis: the updater's ModerationStateStore (shared/application/moderation_apply.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shared.adapters.keys import moderation_state_key
from shared.adapters.redis_client import RedisClient
from shared.adapters.redis_scripts import REDIS_FAILURES
from shared.domain.errors import StoreUnavailable


class RedisModerationState:
    """One hash, `keys.moderation_state_key()`: user id -> the ban's end in ms, 0 for a ban until lifted."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        if not players:
            return {}
        ordered = list(players)
        try:
            values = self.client.hmget(moderation_state_key(), ordered)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"moderation state: {error}") from error
        return {player: int(value) for player, value in zip(ordered, values, strict=True) if value is not None}

    def record(self, states: Mapping[str, int | None]) -> None:
        banned = {player: until for player, until in states.items() if until is not None}
        lifted = [player for player, until in states.items() if until is None]
        pipeline = self.client.pipeline(transaction=False)
        if banned:
            pipeline.hset(moderation_state_key(), mapping=banned)  # type: ignore[arg-type]
        if lifted:
            pipeline.hdel(moderation_state_key(), *lifted)
        try:
            pipeline.execute()
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"moderation state: {error}") from error
