"""Accepting score events: publish each, remember it, and tell a retry from a conflicting resubmission.

Exactly-once is the updater's job (it recognises an event it already applied); the ledger here
makes the `duplicates` answer accurate, keeps a retry on the boards its first try chose (same
`occurred_at`, same `received_at`), and refuses the same (match_id, user_id) with other points.

Whether an event counts on no board is decided here, not at validation: an event received after
every board of its time closed is still accepted when the ledger remembers a first try that counts
on one (its publish failed or went unanswered, so the record may already be in Kafka).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from aws_lambda_powertools import Logger

from shared.domain.boards import BoardSchedule
from shared.domain.errors import LedgerUnavailable
from shared.domain.events import ScoreEvent, counts_on_no_board

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

    def peek(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        """What is remembered of each event (None: never seen), claiming nothing."""
        ...

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


class CountsOnNoBoard(ValueError):
    """Events that count on no open board and are no retry of a first try that does; nothing was claimed
    or published. `reasons`: event id -> why (shared.domain.events.counts_on_no_board)."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        super().__init__(next(iter(self.reasons.values())))


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
    def __init__(self, publisher: Publisher, ledger: Ledger, schedule: BoardSchedule) -> None:
        self._publisher = publisher
        self._ledger = ledger
        self._schedule = schedule

    def submit(self, events: Sequence[ScoreEvent]) -> IngestOutcome:
        """Publish every event not acknowledged before; all or nothing."""
        unique = unique_events(events)
        self._refuse_late_first_tries(unique)
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

    def _refuse_late_first_tries(self, events: list[ScoreEvent]) -> None:
        """CountsOnNoBoard for the events that count on no board at their own received time, unless the ledger
        remembers a first try whose times count on one: that is a retry, and counts where its first try does."""
        late = {
            event.event_id: reason
            for event in events
            if (reason := counts_on_no_board(self._schedule, event.occurred_at_ms, event.received_at_ms))
        }
        if not late:
            return
        suspects = [event for event in events if event.event_id in late]
        try:
            remembered = self._ledger.peek(suspects)
        except LedgerUnavailable as error:
            logger.warning("submission ledger unavailable; late events are refused as first tries", error=str(error))
            remembered = [None] * len(suspects)
        for event, before in zip(suspects, remembered, strict=True):
            if before is not None and _as_remembered(event, before).boards(self._schedule):
                del late[event.event_id]
        if late:
            raise CountsOnNoBoard(late)

    def _confirm(self, events: list[ScoreEvent]) -> None:
        try:
            self._ledger.confirm(events)
        except LedgerUnavailable as error:
            logger.warning("could not mark submissions accepted; a retry publishes them again", error=str(error))
