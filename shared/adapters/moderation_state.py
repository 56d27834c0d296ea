"""Who is banned, in Redis: the updater's ModerationStateStore (shared/application/moderation_apply.py)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from shared.adapters.keys import moderation_state_key
from shared.adapters.redis_client import RedisClient, text_of
from shared.adapters.redis_scripts import REDIS_FAILURES
from shared.domain.errors import StoreUnavailable


class RedisModerationState:
    """One hash, `keys.moderation_state_key()`: user id -> the ban's end in ms, 0 for a ban until lifted."""

    def __init__(self, client: RedisClient) -> None:
        self.client = client

    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        if not players:
            return {}
        key = moderation_state_key()
        try:
            # Usually far fewer players are banned than a batch holds (often none): then the whole hash
            # costs less to read than one field per player (an HMGET of 10 k fields is about 2 µs per
            # record of the batch, as much as decoding it).
            if self.client.hlen(key) <= len(players):
                everyone: dict[bytes, bytes] = self.client.hgetall(key)  # type: ignore[assignment]
                return {player: int(everyone[name]) for player in players if (name := player.encode()) in everyone}
            ordered = list(players)
            values = self.client.hmget(key, ordered)
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"moderation state: {error}") from error
        return {player: int(value) for player, value in zip(ordered, values, strict=True) if value is not None}

    def every_ban(self, at_most: int) -> dict[str, int] | None:
        key = moderation_state_key()
        try:
            if self.client.hlen(key) > at_most:
                return None
            everyone: dict[bytes, bytes] = self.client.hgetall(key)  # type: ignore[assignment]
        except REDIS_FAILURES as error:
            raise StoreUnavailable(f"moderation state: {error}") from error
        try:
            return {text_of(name): int(value) for name, value in everyone.items()}
        except ValueError:  # UnicodeDecodeError included
            # An entry no ban could be (written by hand, or by something else): read player by
            # player instead, so that it fails only a batch holding its player, as it always did.
            return None

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
