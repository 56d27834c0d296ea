"""Stand-ins for ingest's ports (shared.application.ingest): a ledger in memory and a publisher that records."""

from __future__ import annotations

from collections.abc import Sequence

from shared.application.ingest import Submission, SubmissionState
from shared.domain.errors import BrokerUnavailable, LedgerUnavailable
from shared.domain.events import ScoreEvent


def remembered(event: ScoreEvent, state: SubmissionState) -> Submission:
    return Submission(state, event.points, event.occurred_at_ms, event.received_at_ms)


class MemoryLedger:
    def __init__(self, *, down: bool = False, confirm_fails: bool = False) -> None:
        self.entries: dict[str, Submission] = {}
        self.down = down
        self.confirm_fails = confirm_fails

    def claim(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        if self.down:
            raise LedgerUnavailable("redis is down")
        earlier = []
        for item in events:
            earlier.append(self.entries.get(item.event_id))
            self.entries.setdefault(item.event_id, remembered(item, SubmissionState.PENDING))
        return earlier

    def peek(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        if self.down:
            raise LedgerUnavailable("redis is down")
        return [self.entries.get(item.event_id) for item in events]

    def confirm(self, events: Sequence[ScoreEvent]) -> None:
        if self.confirm_fails:
            raise LedgerUnavailable("redis went away")
        for item in events:
            self.entries[item.event_id] = remembered(item, SubmissionState.ACCEPTED)


class RecordingPublisher:
    """`failures` publishes fail; each is stored by the broker without an acknowledgement (ambiguous), or with
    `failures_stored` False, not stored at all."""

    def __init__(self, failures: int = 0, *, failures_stored: bool = True) -> None:
        self.published: list[ScoreEvent] = []
        self.failures = failures
        self.failures_stored = failures_stored

    def publish(self, events: Sequence[ScoreEvent]) -> None:
        if self.failures:
            self.failures -= 1
            if self.failures_stored:
                self.published.extend(events)
            raise BrokerUnavailable("no acknowledgement in time")
        self.published.extend(events)
