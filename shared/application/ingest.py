"""Accepting score events: publish each, remember it, and tell a retry from a conflicting resubmission.

Exactly-once is the updater's job (it recognises an event it already applied); the ledger here
makes the `duplicates` answer accurate, keeps a retry on the boards its first try chose (same
`occurred_at`, same `received_at`), and refuses the same (match_id, user_id) with other points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from aws_lambda_powertools import Logger

from shared.domain.errors import LedgerUnavailable
from shared.domain.events import ScoreEvent

logger = Logger(child=True)


class SubmissionState(Enum):
    PENDING = "pending"  # being published, or a publish that failed or never answered
    ACCEPTED = "accepted"  # the broker acknowledged it


@dataclass(frozen=True, slots=True)
class Submission:
    state: SubmissionState
    points: int | None  # None: remembered by a release that kept only the state
    occurred_at_ms: int | None
    received_at_ms: int | None = None  # None: unknown, or remembered by a release that did not keep it

    def encode(self) -> str:
        received_at = "" if self.received_at_ms is None else self.received_at_ms
        return f"{self.state.value}|{self.points}|{self.occurred_at_ms}|{received_at}"

    @classmethod
    def decode(cls, raw: bytes | str) -> Submission:
        text = raw.decode() if isinstance(raw, bytes) else raw
        state, *fields = text.split("|")
        try:
            points, occurred_at = int(fields[0]), int(fields[1])
            received_at = int(fields[2]) if len(fields) > 2 and fields[2] else None
            return cls(SubmissionState(state), points, occurred_at, received_at)
        except (ValueError, IndexError):
            # A bare state from an earlier release; anything unreadable counts as a publish that may have happened.
            known = state if state in {member.value for member in SubmissionState} else SubmissionState.PENDING.value
            return cls(SubmissionState(known), None, None)


class Publisher(Protocol):
    def publish(self, events: Sequence[ScoreEvent]) -> None: ...


class Ledger(Protocol):
    """What ingest remembers of submissions (shared.adapters.submission_ledger.SubmissionLedger in production);
    LedgerUnavailable when it cannot tell."""

    def claim(self, events: Sequence[ScoreEvent]) -> list[Submission | None]: ...

    def confirm(self, events: Sequence[ScoreEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class Conflict:
    event: ScoreEvent
    earlier_points: int


class ConflictingDuplicate(ValueError):
    """The same (match_id, user_id) was submitted before with other points; nothing was published."""

    def __init__(self, conflicts: Sequence[Conflict]) -> None:
        first = conflicts[0]
        super().__init__(
            f"match {first.event.match_id!r} of user {first.event.user_id!r} was submitted before with "
            f"{first.earlier_points} points, not {first.event.points}"
        )
        self.conflicts = list(conflicts)


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    accepted: int
    duplicates: int  # events acknowledged by the broker before, not published again
    deduplicated: bool  # False when the ledger was unreachable and the events were published unchecked
    counted: dict[str, ScoreEvent]  # event id -> the event as it counts (a retry keeps its first time)


def unique_events(events: Sequence[ScoreEvent]) -> list[ScoreEvent]:
    """Each event id once; the same id with other points in one request is a conflict."""
    seen: dict[str, ScoreEvent] = {}
    conflicts: list[Conflict] = []
    for event in events:
        first = seen.setdefault(event.event_id, event)
        if first.points != event.points:
            conflicts.append(Conflict(event, first.points))
    if conflicts:
        raise ConflictingDuplicate(conflicts)
    return list(seen.values())


def _as_remembered(event: ScoreEvent, earlier: Submission) -> ScoreEvent:
    if earlier.occurred_at_ms is None:
        return event
    if earlier.received_at_ms is None:
        return event._replace(occurred_at_ms=earlier.occurred_at_ms)
    return event._replace(occurred_at_ms=earlier.occurred_at_ms, received_at_ms=earlier.received_at_ms)


class IngestService:
    def __init__(self, publisher: Publisher, ledger: Ledger) -> None:
        self._publisher = publisher
        self._ledger = ledger

    def submit(self, events: Sequence[ScoreEvent]) -> IngestOutcome:
        """Publish every event not acknowledged before; all or nothing."""
        unique = unique_events(events)
        try:
            earlier = self._ledger.claim(unique)
        except LedgerUnavailable as error:
            # The updater deduplicates; the ledger only sharpens the answer. Keep accepting while Redis is away.
            logger.warning("submission ledger unavailable; publishing without it", error=str(error))
            self._publisher.publish(unique)
            return IngestOutcome(len(events), 0, False, {event.event_id: event for event in unique})

        conflicts = [
            Conflict(event, before.points)
            for event, before in zip(unique, earlier, strict=True)
            if before is not None and before.points is not None and before.points != event.points
        ]
        if conflicts:
            # The claims this request made stay: see shared.adapters.submission_ledger.
            raise ConflictingDuplicate(conflicts)

        to_publish: list[ScoreEvent] = []
        counted: dict[str, ScoreEvent] = {}
        for event, before in zip(unique, earlier, strict=True):
            version = event if before is None else _as_remembered(event, before)
            counted[event.event_id] = version
            if before is None or before.state is SubmissionState.PENDING:
                to_publish.append(version)
        if to_publish:
            self._publisher.publish(to_publish)  # on failure the claims stay pending (see the ledger)
            self._confirm(to_publish)
        return IngestOutcome(len(events), len(events) - len(to_publish), True, counted)

    def _confirm(self, events: list[ScoreEvent]) -> None:
        try:
            self._ledger.confirm(events)
        except LedgerUnavailable as error:
            logger.warning("could not mark submissions accepted; a retry publishes them again", error=str(error))
