"""The apply engine's bookkeeping: which offsets are reported for redelivery, and what is dead-lettered.

The board writer here is an in-memory stand-in so partial failures can be forced precisely;
the same engine runs against a real redis-server in tests/integration.
"""

import base64

import pytest

from shared.adapters.board_writer import ReplicationLagging
from shared.application.apply import ApplyResult, PendingScore
from tests.support.sample_events import load_event
from tests.support.updater_fakes import (
    NOVEMBER,
    InMemoryBoards,
    RecordingDeadLetters,
    kafka_event,
    record,
    run,
    score,
)

DECEMBER = 1_796_083_200_000 + 3_600_000


def test_applies_everything_and_redelivery_is_skipped() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    event = kafka_event(
        record(0, 5, score("a", "m1", 2)), record(0, 6, score("a", "m2", 3)), record(1, 9, score("b", "m3"))
    )
    assert run(boards, letters, event) == []
    assert run(boards, letters, event) == []
    assert boards.points == {("2026-11", "a"): 5, ("2026-11", "b"): 1}


def test_poison_is_dead_lettered_with_its_position_and_the_partition_moves_on() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    event = kafka_event(record(0, 1, b"not json"), record(0, 2, score("a", "m1")))
    assert run(boards, letters, event) == []
    assert [(letter.partition, letter.offset) for letter in letters.letters] == [(0, 1)]
    assert "not JSON" in letters.letters[0].reason
    assert base64.b64decode(letters.letters[0].value or "") == b"not json"
    assert boards.points == {("2026-11", "a"): 1}


def test_a_failed_board_reports_its_partition_from_the_first_unapplied_offset() -> None:
    boards, letters = InMemoryBoards(failing_periods={"2026-12"}), RecordingDeadLetters()
    event = kafka_event(
        record(0, 10, score("a", "m1", at=NOVEMBER)),
        record(0, 11, score("a", "m2", at=DECEMBER)),
        record(0, 12, score("a", "m3", at=NOVEMBER)),
        record(0, 13, b"{}"),
        record(1, 20, score("b", "m4", at=NOVEMBER)),
    )
    failures = run(boards, letters, event)
    assert failures == [("score-events-0", 11), ("score-events-0", 12), ("score-events-0", 13)]
    assert letters.letters == [], "poison past the failure point waits for the redelivery"
    boards.failing_periods.clear()
    redelivery = kafka_event(*[r for r in event["records"]["score-events-0"] if r["offset"] >= 11])
    assert run(boards, letters, redelivery) == []
    assert boards.points == {("2026-11", "a"): 2, ("2026-12", "a"): 1, ("2026-11", "b"): 1}
    assert [letter.offset for letter in letters.letters] == [13]


def test_poison_that_cannot_be_dead_lettered_is_retried_not_dropped() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters(refuse=True)
    event = kafka_event(record(0, 1, score("a", "m1")), record(0, 2, b"garbage"), record(0, 3, score("a", "m2")))
    assert run(boards, letters, event) == [("score-events-0", 2), ("score-events-0", 3)]


class UnreplicatedBoards(InMemoryBoards):
    """Applies on the primary, but no replica confirms the November board's write in time."""

    def apply(
        self, period: str, partition: str, scores: list[PendingScore], *, unscoped_partition: str = ""
    ) -> ApplyResult:
        result = super().apply(period, partition, scores)
        if period == "2026-11":
            raise ReplicationLagging("0 of 1 replicas confirmed within 1000 ms")
        return result


def test_a_write_no_replica_confirmed_is_redelivered_and_then_counts_once() -> None:
    boards, letters = UnreplicatedBoards(), RecordingDeadLetters()
    event = kafka_event(
        record(0, 4, score("a", "m1", 2)), record(0, 5, score("a", "m2")), record(1, 7, score("b", "m3", at=DECEMBER))
    )
    assert run(boards, letters, event) == [("score-events-0", 4), ("score-events-0", 5)]

    healthy = InMemoryBoards()
    healthy.points, healthy.watermarks = boards.points, boards.watermarks
    assert run(healthy, letters, kafka_event(*event["records"]["score-events-0"])) == []
    assert healthy.points == {("2026-11", "a"): 3, ("2026-12", "b"): 1}


def test_whole_batch_failure_raises_so_lambda_retries_it() -> None:
    boards, letters = InMemoryBoards(failing_periods={"2026-11"}), RecordingDeadLetters()
    with pytest.raises(Exception, match="All records failed"):
        run(boards, letters, kafka_event(record(0, 1, score("a", "m1"))))


def test_sample_event_decodes() -> None:
    event = load_event("kafka_batch.json")
    boards = InMemoryBoards()
    assert run(boards, RecordingDeadLetters(), event) == []
    assert sum(boards.points.values()) == 18


def test_after_a_failed_slice_the_later_slices_of_that_board_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.application.apply.APPLY_SLICE", 2)
    boards, letters = InMemoryBoards(failing_calls={2}), RecordingDeadLetters()
    event = kafka_event(*[record(0, offset, score(f"u{offset}", f"m{offset}")) for offset in range(1, 8)])
    failures = run(boards, letters, event)
    assert failures == [("score-events-0", offset) for offset in range(3, 8)]
    assert boards.calls == 2, "slices above the failed one are not sent"
    assert boards.watermarks[("2026-11", "score-events-0")] == 2
    redelivery = kafka_event(*[r for r in event["records"]["score-events-0"] if r["offset"] >= 3])
    assert run(boards, letters, redelivery) == []
    assert sum(boards.points.values()) == 7
