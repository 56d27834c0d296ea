"""Accepting score events: deduplicate on (match_id, user_id), publish, and remember what was accepted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aws_lambda_powertools import Logger
from redis.exceptions import RedisError

from shared.model import ScoreEvent
from shared.submission_ledger import Claims, SubmissionLedger

logger = Logger(child=True)


class Publisher(Protocol):
    def publish(self, events: Sequence[ScoreEvent]) -> None: ...


class SubmissionInProgress(RuntimeError):
    """Another request is publishing the same (match_id, user_id) right now."""

    def __init__(self, event_ids: Sequence[str]) -> None:
        super().__init__(f"{len(event_ids)} event(s) are being accepted by another request; retry shortly")
        self.event_ids = list(event_ids)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    deduplicated: bool  # False when the ledger was unreachable and the events were published unchecked


def unique_events(events: Sequence[ScoreEvent]) -> list[ScoreEvent]:
    seen: dict[str, ScoreEvent] = {}
    for event in events:
        seen.setdefault(event.event_id, event)
    return list(seen.values())


class IngestService:
    def __init__(self, publisher: Publisher, ledger: SubmissionLedger) -> None:
        self._publisher = publisher
        self._ledger = ledger

    def _claim(self, event_ids: list[str]) -> Claims | None:
        try:
            return self._ledger.claim(event_ids)
        except RedisError as error:
            # Kafka, not Redis, is what makes a win safe: keep accepting while Redis is away.
            logger.warning("submission ledger unavailable; publishing without deduplication", error=str(error))
            return None

    def _settle(self, event_ids: list[str], *, published: bool) -> None:
        try:
            if published:
                self._ledger.confirm(event_ids)
            else:
                self._ledger.release(event_ids)
        except RedisError as error:
            logger.warning("could not update the submission ledger", error=str(error), published=published)

    def submit(self, events: Sequence[ScoreEvent]) -> IngestOutcome:
        """Publish every event not accepted before; all or nothing."""
        unique = unique_events(events)
        claims = self._claim([event.event_id for event in unique])
        if claims is None:
            self._publisher.publish(unique)
            return IngestOutcome(accepted=len(events), duplicates=len(events) - len(unique), deduplicated=False)
        if claims.pending:
            self._settle(claims.new, published=False)
            raise SubmissionInProgress(claims.pending)
        new_ids = set(claims.new)
        fresh = [event for event in unique if event.event_id in new_ids]
        try:
            if fresh:
                self._publisher.publish(fresh)
        except BaseException:
            self._settle(claims.new, published=False)
            raise
        self._settle(claims.new, published=True)
        return IngestOutcome(accepted=len(events), duplicates=len(events) - len(fresh), deduplicated=True)
