"""A late record that is already in Kafka is applied: ingest accepted it, so a 202 was promised."""

from __future__ import annotations

import pytest

from shared.domain.periods import period_start_ms
from tests.support.updater_fakes import InMemoryBoards, RecordingDeadLetters, kafka_event, record, run, score

pytestmark = pytest.mark.security


def test_the_updater_applies_records_of_long_closed_months() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    long_ago = period_start_ms("2019-03") + 60_000
    failures = run(boards, letters, kafka_event(record(0, 7, score("veteran", "m-2019", points=4, at=long_ago))))
    assert failures == []
    assert boards.points[("2019-03", "veteran")] == 4
    assert letters.letters == []
