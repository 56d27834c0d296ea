"""Sharper checks on shared.application.ingest: the warnings it logs when the ledger fails (their
text is what an operator searches for), the answer without the ledger, and a ledger that answers
for fewer events than it was asked about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from shared.application import ingest
from shared.application.ingest import ConflictingDuplicate, IngestService, Submission
from shared.domain.boards import BoardSchedule, Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.timestamps import rfc3339_to_epoch_ms
from tests.support.ingest_ports import MemoryLedger, RecordingPublisher

pytestmark = pytest.mark.unit

JUNE = 1_560_000_000_000  # 2019-06-08
DAILY_ONLY = BoardSchedule((Window.DAILY,))
LATE_MATCH = rfc3339_to_epoch_ms("2026-05-31T23:30:00Z")
AFTER_GRACE = rfc3339_to_epoch_ms("2026-06-01T02:01:00Z")


def event(match: str, points: int = 1) -> ScoreEvent:
    return ScoreEvent(event_id_for(match, "ann"), match, "ann", points, JUNE)


class RecordingLogger:
    def __init__(self) -> None:
        self.warnings: list[tuple[str, dict[str, Any]]] = []

    def warning(self, message: str, **fields: Any) -> None:
        self.warnings.append((message, fields))


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> RecordingLogger:
    recorder = RecordingLogger()
    monkeypatch.setattr(ingest, "logger", recorder)
    return recorder


def test_without_the_ledger_it_warns_and_counts_each_event_as_sent(logged: RecordingLogger) -> None:
    outcome = IngestService(RecordingPublisher(), MemoryLedger(down=True), BoardSchedule(tuple(Window))).submit(
        [event("m1"), event("m2")]
    )
    assert outcome.counted == {event("m1").event_id: event("m1"), event("m2").event_id: event("m2")}
    assert logged.warnings == [("submission ledger unavailable; publishing without it", {"error": "redis is down"})]


def test_a_failed_confirmation_is_logged(logged: RecordingLogger) -> None:
    IngestService(RecordingPublisher(), MemoryLedger(confirm_fails=True), BoardSchedule(tuple(Window))).submit(
        [event("m1")]
    )
    assert logged.warnings == [
        ("could not mark submissions accepted; a retry publishes them again", {"error": "redis went away"})
    ]


def test_a_late_event_the_ledger_cannot_check_is_logged(logged: RecordingLogger) -> None:
    late = ScoreEvent(event_id_for("m1", "ann"), "m1", "ann", 1, LATE_MATCH, AFTER_GRACE)
    with pytest.raises(ingest.CountsOnNoBoard):
        IngestService(RecordingPublisher(), MemoryLedger(down=True), DAILY_ONLY).submit([late])
    assert logged.warnings == [
        ("submission ledger unavailable; late events are refused as first tries", {"error": "redis is down"})
    ]


def test_a_conflict_within_one_request_names_the_first_points() -> None:
    with pytest.raises(ConflictingDuplicate) as refused:
        IngestService(RecordingPublisher(), MemoryLedger(), BoardSchedule(tuple(Window))).submit(
            [event("m1", points=1), event("m1", points=2)]
        )
    assert [(c.event.points, c.earlier_points) for c in refused.value.conflicts] == [(2, 1)]


class ShortLedger(MemoryLedger):
    """A broken adapter: it answers for one event fewer than it is asked about."""

    def claim(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        return super().claim(events)[:-1]

    def peek(self, events: Sequence[ScoreEvent]) -> list[Submission | None]:
        return super().peek(events)[:-1]


def test_a_ledger_answering_for_fewer_events_is_an_error_not_a_silent_skip() -> None:
    publisher = RecordingPublisher()
    with pytest.raises(ValueError, match="zip"):
        IngestService(publisher, ShortLedger(), BoardSchedule(tuple(Window))).submit([event("m1"), event("m2")])
    late = ScoreEvent(event_id_for("m1", "ann"), "m1", "ann", 1, LATE_MATCH, AFTER_GRACE)
    with pytest.raises(ValueError, match="zip"):
        IngestService(publisher, ShortLedger(), DAILY_ONLY).submit([late])
    assert publisher.published == []


def test_a_short_claim_answer_is_an_error_even_when_an_answered_event_conflicts() -> None:
    ledger, publisher = ShortLedger(), RecordingPublisher()
    ledger.entries[event("m1").event_id] = Submission(ingest.SubmissionState.ACCEPTED, 5, JUNE)
    with pytest.raises(ValueError, match="zip") as refused:
        IngestService(publisher, ledger, BoardSchedule(tuple(Window))).submit([event("m1"), event("m2")])
    assert not isinstance(refused.value, ConflictingDuplicate)
    assert publisher.published == []
