"""Ingest's decisions with stand-in ports: what is published, what a retry does, what is refused."""

from __future__ import annotations

import pytest

from shared.application.ingest import (
    ConflictingDuplicate,
    CountsOnNoBoard,
    IngestService,
    Submission,
    SubmissionState,
)
from shared.domain.boards import BoardSchedule, Window
from shared.domain.errors import BrokerUnavailable
from shared.domain.events import (
    ScoreEvent,
    ScoreLimits,
    ScoreSubmission,
    counts_on_no_board,
    event_id_for,
    to_score_event,
)
from shared.domain.timestamps import rfc3339_to_epoch_ms
from tests.support.ingest_ports import MemoryLedger, RecordingPublisher, remembered

JUNE = 1_560_000_000_000  # 2019-06-08
JULY = 1_562_500_000_000  # 2019-07-07
EVERY_BOARD = BoardSchedule(tuple(Window))


def event(match: str, user: str = "ann", points: int = 1, at: int = JUNE) -> ScoreEvent:
    return ScoreEvent(event_id_for(match, user), match, user, points, at)


def test_new_events_are_published_and_remembered_as_accepted() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    outcome = IngestService(publisher, ledger, EVERY_BOARD).submit([event("m1"), event("m2", points=4)])
    assert (outcome.accepted, outcome.duplicates, outcome.deduplicated) == (2, 0, True)
    assert publisher.published == [event("m1"), event("m2", points=4)]
    assert {entry.state for entry in ledger.entries.values()} == {SubmissionState.ACCEPTED}


def test_an_accepted_event_is_a_duplicate_and_keeps_the_period_it_first_counted_in() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    service = IngestService(publisher, ledger, EVERY_BOARD)
    service.submit([event("m1", at=JUNE)])
    outcome = service.submit([event("m1", at=JULY)])  # a retry without occurred_at, stamped later
    assert outcome.duplicates == 1
    assert publisher.published == [event("m1", at=JUNE)], "not published again"
    assert Window.MONTHLY.period_of(outcome.counted[event("m1").event_id].occurred_at_ms) == "2019-06"


def test_after_an_ambiguous_publish_the_retry_publishes_the_first_version_again() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher(failures=1)
    service = IngestService(publisher, ledger, EVERY_BOARD)
    with pytest.raises(BrokerUnavailable):
        service.submit([event("m1", at=JUNE)])
    assert ledger.entries[event("m1").event_id].state is SubmissionState.PENDING, "the claim is kept, not released"

    outcome = service.submit([event("m1", at=JULY)])
    assert outcome.duplicates == 0
    assert publisher.published == [event("m1", at=JUNE), event("m1", at=JUNE)], "same board: the updater drops one"
    assert ledger.entries[event("m1").event_id].state is SubmissionState.ACCEPTED


def test_a_retry_keeps_the_times_of_the_first_try_and_so_its_boards() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher(failures=1)
    service = IngestService(publisher, ledger, EVERY_BOARD)
    first = event("m1", at=JUNE)._replace(received_at_ms=JUNE + 1000)
    with pytest.raises(BrokerUnavailable):
        service.submit([first])
    retry = event("m1", at=JULY)._replace(received_at_ms=JULY + 1000)
    outcome = service.submit([retry])
    assert publisher.published == [first, first], "published again exactly as first claimed"
    assert outcome.counted[first.event_id] == first
    assert service.submit([retry]).counted[first.event_id] == first, "an accepted one answers the same"


def test_a_claim_from_before_received_at_was_remembered_keeps_the_retrys() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    ledger.entries[event("m1").event_id] = Submission(SubmissionState.PENDING, 1, JUNE)
    retry = event("m1", at=JULY)._replace(received_at_ms=JULY)
    IngestService(publisher, ledger, EVERY_BOARD).submit([retry])
    assert publisher.published == [retry._replace(occurred_at_ms=JUNE)]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("accepted|3|1560000000000|1560000001000", Submission(SubmissionState.ACCEPTED, 3, JUNE, JUNE + 1000)),
        ("pending|3|1560000000000|", Submission(SubmissionState.PENDING, 3, JUNE)),
        ("accepted|3|1560000000000", Submission(SubmissionState.ACCEPTED, 3, JUNE)),
        ("accepted", Submission(SubmissionState.ACCEPTED, None, None)),
        ("accepted|3|later|", Submission(SubmissionState.ACCEPTED, None, None)),
        ("garbled", Submission(SubmissionState.PENDING, None, None)),
    ],
)
def test_what_the_ledger_stored_reads_back_whichever_release_wrote_it(stored: str, expected: Submission) -> None:
    assert Submission.decode(stored.encode()) == expected


@pytest.mark.parametrize("received_at", [JUNE + 1000, None])
def test_a_submission_round_trips(received_at: int | None) -> None:
    submission = Submission(SubmissionState.PENDING, 7, JUNE, received_at)
    assert Submission.decode(submission.encode()) == submission


def test_a_claim_left_pending_by_a_crash_does_not_block_the_retry() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    ledger.entries[event("m1").event_id] = Submission(SubmissionState.PENDING, 1, JUNE)
    outcome = IngestService(publisher, ledger, EVERY_BOARD).submit([event("m1", at=JULY)])
    assert outcome.accepted == 1
    assert publisher.published == [event("m1", at=JUNE)]


def test_without_the_ledger_events_are_published_unchecked() -> None:
    publisher = RecordingPublisher()
    outcome = IngestService(publisher, MemoryLedger(down=True), EVERY_BOARD).submit([event("m1"), event("m1")])
    assert (outcome.accepted, outcome.duplicates, outcome.deduplicated) == (2, 0, False)
    assert publisher.published == [event("m1")], "repeated within one request: published once"


def test_a_failed_confirmation_still_answers_accepted() -> None:
    publisher = RecordingPublisher()
    outcome = IngestService(publisher, MemoryLedger(confirm_fails=True), EVERY_BOARD).submit([event("m1")])
    assert outcome.accepted == 1
    assert publisher.published == [event("m1")]


def test_the_same_pair_with_other_points_is_refused_and_nothing_is_published() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    service = IngestService(publisher, ledger, EVERY_BOARD)
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
        IngestService(publisher, MemoryLedger(), EVERY_BOARD).submit([event("m1", points=1), event("m1", points=2)])
    assert publisher.published == []


def test_an_event_the_earlier_release_accepted_is_a_duplicate_whatever_its_points() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    ledger.entries[event("m1").event_id] = Submission(SubmissionState.ACCEPTED, None, None)
    outcome = IngestService(publisher, ledger, EVERY_BOARD).submit([event("m1", points=9)])
    assert outcome.duplicates == 1
    assert publisher.published == []


# --- late events: a retry counts where its first try does -------------------------------------------------

DAILY_ONLY = BoardSchedule((Window.DAILY,))  # its default grace: a day's board closes 2 hours after midnight
LATE_MATCH = rfc3339_to_epoch_ms("2026-05-31T23:30:00Z")
IN_GRACE = rfc3339_to_epoch_ms("2026-06-01T01:59:00Z")
AFTER_GRACE = rfc3339_to_epoch_ms("2026-06-01T02:01:00Z")


DAILY_LIMITS = ScoreLimits(
    max_points_per_event=10_000, max_future_skew_ms=300_000, board_schedule=DAILY_ONLY, max_events_per_batch=500
)


def received(match: str, at: int, *, user: str = "ann", occurred_at: int | None = None) -> ScoreEvent:
    """The event as the handler builds it from a POST received at `at` (no occurred_at: stamped with `at`)."""
    fields = {"match_id": match, "user_id": user, "occurred_at": occurred_at}
    return to_score_event(ScoreSubmission.model_validate(fields), DAILY_LIMITS, received_at_ms=at)


def test_the_retry_of_an_ambiguous_publish_counts_on_the_board_its_first_try_counts_on() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher(failures=1)
    service = IngestService(publisher, ledger, DAILY_ONLY)
    first = received("m1", IN_GRACE, occurred_at=LATE_MATCH)
    with pytest.raises(BrokerUnavailable):
        service.submit([first])  # the broker stored it; the answer was a 503

    outcome = service.submit([received("m1", AFTER_GRACE, occurred_at=LATE_MATCH)])
    assert publisher.published == [first, first], "published again as first claimed; the updater drops one"
    assert outcome.counted[first.event_id].periods(DAILY_ONLY) == {"daily": "2026-05-31"}


def test_a_batch_whose_first_try_was_lost_is_accepted_whole_on_its_retry() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher(failures=1, failures_stored=False)
    service = IngestService(publisher, ledger, DAILY_ONLY)
    first_try = [received("m1", IN_GRACE, occurred_at=LATE_MATCH), received("m2", IN_GRACE, user="bob")]
    with pytest.raises(BrokerUnavailable):
        service.submit(first_try)
    assert publisher.published == []

    retry = [received("m1", AFTER_GRACE, occurred_at=LATE_MATCH), received("m2", AFTER_GRACE, user="bob")]
    outcome = service.submit(retry)
    assert (outcome.accepted, outcome.duplicates) == (2, 0)
    assert publisher.published == first_try
    assert [outcome.counted[item.event_id].periods(DAILY_ONLY) for item in retry] == [
        {"daily": "2026-05-31"},
        {"daily": "2026-06-01"},
    ]


def test_a_late_event_never_seen_refuses_the_request_and_claims_nothing() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    late = received("m1", AFTER_GRACE, occurred_at=LATE_MATCH)
    with pytest.raises(CountsOnNoBoard) as refused:
        IngestService(publisher, ledger, DAILY_ONLY).submit([received("m2", AFTER_GRACE, user="bob"), late])
    assert refused.value.reasons == {late.event_id: counts_on_no_board(DAILY_ONLY, LATE_MATCH, AFTER_GRACE)}
    assert "daily 2026-05-31 closed to late events 2 hours after it ended" in str(refused.value)
    assert (ledger.entries, publisher.published) == ({}, []), "the fresh event is not claimed either"


def test_a_late_event_is_refused_while_the_ledger_cannot_tell_whether_it_is_a_retry() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher()
    first = received("m1", IN_GRACE, occurred_at=LATE_MATCH)
    ledger.entries[first.event_id] = remembered(first, SubmissionState.PENDING)
    ledger.down = True
    with pytest.raises(CountsOnNoBoard):
        IngestService(publisher, ledger, DAILY_ONLY).submit([received("m1", AFTER_GRACE, occurred_at=LATE_MATCH)])
    assert publisher.published == []


def test_a_late_retry_with_other_points_is_a_conflict_not_a_late_event() -> None:
    ledger, publisher = MemoryLedger(), RecordingPublisher(failures=1)
    service = IngestService(publisher, ledger, DAILY_ONLY)
    with pytest.raises(BrokerUnavailable):
        service.submit([received("m1", IN_GRACE, occurred_at=LATE_MATCH)])
    with pytest.raises(ConflictingDuplicate):
        service.submit([received("m1", AFTER_GRACE, occurred_at=LATE_MATCH)._replace(points=5)])
