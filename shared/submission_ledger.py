"""Ingest idempotency: remember which (match_id, user_id) pairs were already accepted.

Each event id is first claimed as "pending" (short TTL, so a crash frees it), published, then
marked "accepted" for the idempotency window. A failed publish releases its claims so the
game server's retry goes through. The claims for a whole batch take one pipelined round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.keys import submission_key
from shared.redis_client import RedisClient

PENDING = "pending"
ACCEPTED = "accepted"
PENDING_TTL_MS = 60_000


@dataclass(slots=True)
class Claims:
    new: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)


class SubmissionLedger:
    def __init__(self, client: RedisClient, window_seconds: int) -> None:
        self._client = client
        self._window_seconds = window_seconds

    def claim(self, event_ids: Sequence[str]) -> Claims:
        pipe = self._client.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.set(submission_key(event_id), PENDING, nx=True, px=PENDING_TTL_MS, get=True)
        claims = Claims()
        for event_id, previous in zip(event_ids, pipe.execute(), strict=True):
            if previous is None:
                claims.new.append(event_id)
            elif previous in (ACCEPTED, ACCEPTED.encode()):
                claims.accepted.append(event_id)
            else:
                claims.pending.append(event_id)
        return claims

    def confirm(self, event_ids: Sequence[str]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.set(submission_key(event_id), ACCEPTED, ex=self._window_seconds)
        pipe.execute()

    def release(self, event_ids: Sequence[str]) -> None:
        if event_ids:
            self._client.delete(*(submission_key(event_id) for event_id in event_ids))
