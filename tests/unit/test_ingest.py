"""Ingest's decisions with stand-in ports: what is published, what a retry does, what is refused."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from shared.application.ingest import ConflictingDuplicate, IngestService, Submission, SubmissionState
from shared.domain.errors import BrokerUnavailable, LedgerUnavailable
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.periods import period_of

JUNE = 1_560_000_000_000  # 2019-06-08
JULY = 1_562_500_000_000  # 2019-07-07


def event(match: str, user: str = "ann", points: int = 1, at: int = JUNE) -> ScoreEvent:
    return ScoreEvent(event_id_for(match, user), match, user, points, at)


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
            self.entries.setdefault(
                item.event_id, Submission(SubmissionState.PENDING, item.points, item.occurred_at_ms)
            )
        return earlier

    def confirm(self, events: Sequence[ScoreEvent]) -> None:
        if self.confirm_fails:
            raise LedgerUnavailable("redis went away")
        for item in events:
            self.entries[item.event_id] = Submission(SubmissionState.ACCEPTED, item.points, item.occurred_at_ms)


class RecordingPublisher:
    def __init__(self, failures: int = 0) -> None:
        self.published: list[ScoreEvent] = []
        self.failures = failures

    def publish(self, events: Sequence[ScoreEvent]) -> None:
        if self.failures:
            self.failures -= 1
            self.published.extend(events)  # stored by the broker, but the acknowledgement never came
            raise BrokerUnavailable("no acknowledgement in time")
        self.published.extend(events)


def test_new_events_are_published_and_remembered_as_accepted() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    outcome = IngestService(publisher, ledger).submit([event("m1"), event("m2", points=4)])
    assert (outcome.accepted, outcome.duplicates, outcome.deduplicated) == (2, 0, True)
    assert publisher.published == [event("m1"), event("m2", points=4)]
    assert {entry.state for entry in ledger.entries.values()} == {SubmissionState.ACCEPTED}


def test_an_accepted_event_is_a_duplicate_and_keeps_the_period_it_first_counted_in() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    service = IngestService(publisher, ledger)
    service.submit([event("m1", at=JUNE)])
    outcome = service.submit([event("m1", at=JULY)])  # a retry without occurred_at, stamped later
    assert outcome.duplicates == 1
    assert publisher.published == [event("m1", at=JUNE)], "not published again"
    assert period_of(outcome.counted[event("m1").event_id].occurred_at_ms) == "2019-06"


def test_after_an_ambiguous_publish_the_retry_publishes_the_first_version_again() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher(failures=1)
    service = IngestService(publisher, ledger)
    with pytest.raises(BrokerUnavailable):
        service.submit([event("m1", at=JUNE)])
    assert ledger.entries[event("m1").event_id].state is SubmissionState.PENDING, "the claim is kept, not released"

    outcome = service.submit([event("m1", at=JULY)])
    assert outcome.duplicates == 0
    assert publisher.published == [event("m1", at=JUNE), event("m1", at=JUNE)], "same board: the updater drops one"
    assert ledger.entries[event("m1").event_id].state is SubmissionState.ACCEPTED


def test_a_claim_left_pending_by_a_crash_does_not_block_the_retry() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    ledger.entries[event("m1").event_id] = Submission(SubmissionState.PENDING, 1, JUNE)
    outcome = IngestService(publisher, ledger).submit([event("m1", at=JULY)])
    assert outcome.accepted == 1
    assert publisher.published == [event("m1", at=JUNE)]


def test_without_the_ledger_events_are_published_unchecked() -> None:
    publisher = RecordingPublisher()
    outcome = IngestService(publisher, MemoryLedger(down=True)).submit([event("m1"), event("m1")])
    assert (outcome.accepted, outcome.duplicates, outcome.deduplicated) == (2, 0, False)
    assert publisher.published == [event("m1")], "repeated within one request: published once"


def test_a_failed_confirmation_still_answers_accepted() -> None:
    publisher = RecordingPublisher()
    outcome = IngestService(publisher, MemoryLedger(confirm_fails=True)).submit([event("m1")])
    assert outcome.accepted == 1
    assert publisher.published == [event("m1")]


def test_the_same_pair_with_other_points_is_refused_and_nothing_is_published() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    service = IngestService(publisher, ledger)
    service.submit([event("m1", points=3)])
    with pytest.raises(ConflictingDuplicate, match="3 points, not 7") as refused:
        service.submit([event("m2"), event("m1", points=7)])
    assert [conflict.event.match_id for conflict in refused.value.conflicts] == ["m1"]
    assert publisher.published == [event("m1", points=3)], "the batch is refused whole"

    corrected = service.submit([event("m2"), event("m1", points=3)])
    assert (corrected.accepted, corrected.duplicates) == (2, 1)
    assert publisher.published == [event("m1", points=3), event("m2")]


def test_other_points_for_one_pair_within_a_batch_are_refused() -> None:
    publisher = RecordingPublisher()
    with pytest.raises(ConflictingDuplicate):
        IngestService(publisher, MemoryLedger()).submit([event("m1", points=1), event("m1", points=2)])
    assert publisher.published == []


def test_an_event_the_earlier_release_accepted_is_a_duplicate_whatever_its_points() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    ledger.entries[event("m1").event_id] = Submission(SubmissionState.ACCEPTED, None, None)
    outcome = IngestService(publisher, ledger).submit([event("m1", points=9)])
    assert outcome.duplicates == 1
    assert publisher.published == []
