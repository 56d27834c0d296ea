"""A late record that is already in Kafka is applied: ingest accepted it, so a 202 was promised."""

from __future__ import annotations

import pytest

from shared.domain.boards import Window
from tests.support.updater_fakes import InMemoryBoards, RecordingDeadLetters, kafka_event, ms, record, run, score

pytestmark = pytest.mark.security


def test_the_updater_applies_records_of_long_closed_months() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    long_ago = ms("2019-03-01T00:01:00Z")
    failures = run(boards, letters, kafka_event(record(0, 7, score("veteran", "m-2019", points=4, at=long_ago))))
    assert failures == []
    assert boards.on(Window.MONTHLY, "2019-03") == {"veteran": 4}
    assert boards.on(Window.DAILY, "2019-03-01") == boards.on(Window.WEEKLY, "2019-W09") == {"veteran": 4}
    assert letters.letters == []
