"""Ingest's memory of submissions: which (match_id, user_id) pairs it has seen, with what points and time.

Each event id is claimed as "pending" with the event's points, `occurred_at` and `received_at`
before it is published, and marked "accepted" once the broker acknowledged it; both last the
idempotency window. A claim is never released, not even for a request refused as a whole (a
conflict): after a failed or ambiguous publish the record may be in Kafka, and a retry publishes
the event again exactly as first claimed (same times, so the same boards), where the updater
recognises it. The claims for a whole batch take one pipelined round trip. A request refused for
counting on no open board claims nothing: ingest only peeks at what is remembered of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.client import Pipeline
from redis.cluster import ClusterPipeline
from redis.exceptions import RedisClusterException, RedisError

from shared.adapters.keys import submission_key
from shared.adapters.redis_client import RedisClient
from shared.application.ingest import Submission, SubmissionState
from shared.domain.errors import LedgerUnavailable
from shared.domain.events import ScoreEvent


def _submission(event: ScoreEvent, state: SubmissionState) -> str:
    return Submission(state, event.points, event.occurred_at_ms, event.received_at_ms).encode()


def _execute(pipe: Pipeline | ClusterPipeline) -> list[Any]:
    try:
        return list(pipe.execute())
    except (RedisError, RedisClusterException) as error:
        raise LedgerUnavailable(f"submission ledger: {error}") from error


class SubmissionLedger:
    def __init__(self, client: RedisClient, window_seconds: int) -> None:
        self._client = client
        self._window_seconds = window_seconds

    def claim(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        """Claim each event as pending; per event, what was remembered before (None: first seen)."""
        pipe = self._client.pipeline(transaction=False)
        for event in events:
            pending = _submission(event, SubmissionState.PENDING)
            pipe.set(submission_key(event.event_id), pending, nx=True, ex=self._window_seconds, get=True)
        return [None if raw is None else Submission.decode(raw) for raw in _execute(pipe)]

    def peek(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        """What is remembered of each event (None: never seen), claiming nothing."""
        pipe = self._client.pipeline(transaction=False)
        for event in events:
            pipe.get(submission_key(event.event_id))
        return [None if raw is None else Submission.decode(raw) for raw in _execute(pipe)]

    def confirm(self, events: Sequence[ScoreEvent]) -> None:
        pipe = self._client.pipeline(transaction=False)
        for event in events:
            pipe.set(
                submission_key(event.event_id), _submission(event, SubmissionState.ACCEPTED), ex=self._window_seconds
            )
        _execute(pipe)
