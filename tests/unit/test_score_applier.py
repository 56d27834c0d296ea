"""The apply engine's bookkeeping: which boards each record goes to, which offsets are reported for
redelivery, and what is dead-lettered.

The board writer is an in-memory stand-in (tests.support.updater_fakes: per (board, partition)
watermarks and remembered event ids, as the apply script keeps them) so partial failures can be
forced precisely; the same engine runs against a real redis-server in tests/integration.
"""

import base64

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from shared.adapters.board_writer import ReplicationLagging
from shared.adapters.msk_batch import ScoreBatchProcessor, decode_score_record
from shared.application.apply import ApplyResult, BatchTally, BoardSliceOutcome, PendingScore
from shared.domain.boards import Board, Window
from tests.support.sample_events import load_event
from tests.support.updater_fakes import (
    DECEMBER,
    MONTHLY_ONLY,
    NOVEMBER,
    InMemoryBoards,
    RecordingDeadLetters,
    board,
    kafka_event,
    ms,
    process,
    record,
    run,
    score,
)


def test_one_record_counts_once_on_the_board_of_every_window_with_that_boards_tick() -> None:
    boards = InMemoryBoards()
    at = ms("2026-11-18T13:14:15.900Z")
    assert run(boards, RecordingDeadLetters(), kafka_event(record(0, 3, score("ann", "m1", 7, at=at)))) == []
    expected = {
        board(Window.DAILY, "2026-11-18"): 13 * 3600 + 14 * 60 + 15,
        board(Window.WEEKLY, "2026-W47"): 2 * 86_400 + 13 * 3600 + 14 * 60 + 15,  # Monday 16 November
        board(Window.MONTHLY, "2026-11"): 17 * 86_400 + 13 * 3600 + 14 * 60 + 15,
        board(Window.ALLTIME, "all"): (at - ms("2020-01-01T00:00:00Z")) // 60_000,
    }
    assert {sent_to: boards.ticks[sent_to]["ann"] for sent_to in boards.points} == expected
    assert all(points == {"ann": 7} for points in boards.points.values())
    assert len(boards.calls) == 4, "one call per (board, partition)"


def test_a_day_boundary_crossed_mid_batch_splits_the_daily_board_only() -> None:
    boards = InMemoryBoards()
    before, after = ms("2026-11-17T23:59:58Z"), ms("2026-11-18T00:00:01Z")
    event = kafka_event(
        record(0, 20, score("ann", "m1", 1, at=before)),
        record(0, 21, score("bob", "m2", 2, at=after)),
        record(0, 22, score("ann", "m3", 4, at=before)),
        record(0, 23, score("bob", "m4", 8, at=after)),
    )
    assert run(boards, RecordingDeadLetters(), event) == []
    assert boards.offsets_sent(Window.DAILY, "2026-11-17") == [[20, 22]]
    assert boards.offsets_sent(Window.DAILY, "2026-11-18") == [[21, 23]]
    for window, period in ((Window.WEEKLY, "2026-W47"), (Window.MONTHLY, "2026-11"), (Window.ALLTIME, "all")):
        assert boards.offsets_sent(window, period) == [[20, 21, 22, 23]], "one call per board and partition"
        assert boards.on(window, period) == {"ann": 5, "bob": 10}
    assert boards.on(Window.DAILY, "2026-11-17") == {"ann": 5}
    assert boards.on(Window.DAILY, "2026-11-18") == {"bob": 10}


def test_a_week_spanning_two_months_is_one_board() -> None:
    boards = InMemoryBoards()
    monday, tuesday = ms("2026-11-30T20:00:00Z"), ms("2026-12-01T04:00:00Z")  # both in 2026-W49
    event = kafka_event(record(1, 5, score("ann", "m1", 3, at=monday)), record(1, 6, score("ann", "m2", 4, at=tuesday)))
    assert run(boards, RecordingDeadLetters(), event) == []
    assert boards.on(Window.WEEKLY, "2026-W49") == {"ann": 7}
    assert boards.ticks[board(Window.WEEKLY, "2026-W49")]["ann"] == 28 * 3600, "reached on Tuesday 04:00"
    assert boards.on(Window.MONTHLY, "2026-11") == {"ann": 3}
    assert boards.on(Window.MONTHLY, "2026-12") == {"ann": 4}
    assert boards.on(Window.ALLTIME, "all") == {"ann": 7}


def test_an_event_late_for_its_day_still_counts_on_the_boards_open_when_it_was_received() -> None:
    boards = InMemoryBoards()
    occurred = ms("2026-11-17T22:00:00Z")
    on_time = ms("2026-11-18T01:59:59.999Z")  # the daily board closes 2 h after the day ends
    late = ms("2026-11-18T02:00:00Z")
    event = kafka_event(
        record(0, 1, score("ann", "m1", 1, at=occurred, received=on_time)),
        record(0, 2, score("bob", "m2", 1, at=occurred, received=late)),
    )
    _, tally = process(boards, RecordingDeadLetters(), event)
    assert boards.on(Window.DAILY, "2026-11-17") == {"ann": 1}
    for window, period in ((Window.WEEKLY, "2026-W47"), (Window.MONTHLY, "2026-11"), (Window.ALLTIME, "all")):
        assert boards.on(window, period) == {"ann": 1, "bob": 1}
    assert tally.applied == 2
    assert tally.board_updates[Window.DAILY].applied == 1
    assert tally.board_updates[Window.ALLTIME].applied == 2


def test_a_record_without_received_at_is_judged_by_its_kafka_timestamp_else_counts_everywhere() -> None:
    boards = InMemoryBoards()
    occurred = ms("2026-11-17T22:00:00Z")
    a_week_later = occurred + 7 * 86_400_000
    event = kafka_event(
        record(0, 1, score("ann", "m1", 1, at=occurred), timestamp=a_week_later),
        record(0, 2, score("bob", "m2", 1, at=occurred), timestamp=None),
        record(0, 3, score("cy", "m3", 1, at=occurred), timestamp=-1),
    )
    assert run(boards, RecordingDeadLetters(), event) == []
    assert boards.on(Window.DAILY, "2026-11-17") == {"bob": 1, "cy": 1}, "a day closes 2 h after its end"
    assert boards.on(Window.WEEKLY, "2026-W47") == {"bob": 1, "cy": 1}, "a week closes a day after its end"
    assert boards.on(Window.MONTHLY, "2026-11") == {"ann": 1, "bob": 1, "cy": 1}
    assert boards.on(Window.ALLTIME, "all") == {"ann": 1, "bob": 1, "cy": 1}


def test_an_event_no_enabled_board_takes_is_done_without_a_write() -> None:
    boards = InMemoryBoards()
    before_alltime = ms("2019-06-01T00:00:00Z")
    event = kafka_event(record(0, 1, score("ann", "m1", 1, at=before_alltime, received=ms("2026-11-01T00:00:00Z"))))
    failures, tally = process(boards, RecordingDeadLetters(), event)
    assert failures == [] and boards.calls == []
    assert (tally.on_no_board, tally.applied) == (1, 0)


def test_only_the_enabled_windows_get_boards() -> None:
    boards = InMemoryBoards()
    assert run(boards, RecordingDeadLetters(), kafka_event(record(0, 1, score("ann", "m1", 2))), MONTHLY_ONLY) == []
    assert list(boards.points) == [board(Window.MONTHLY, "2026-11")]


def test_applies_everything_and_redelivery_is_skipped_on_every_board() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    event = kafka_event(
        record(0, 5, score("a", "m1", 2)), record(0, 6, score("a", "m2", 3)), record(1, 9, score("b", "m3"))
    )
    failures, first = process(boards, letters, event)
    assert failures == [] and (first.applied, first.redelivered) == (3, 0)
    failures, again = process(boards, letters, event)
    assert failures == [] and (again.applied, again.redelivered) == (0, 3)
    assert again.board_updates[Window.DAILY].skipped == 3
    assert boards.on(Window.MONTHLY, "2026-11") == boards.on(Window.DAILY, "2026-11-05") == {"a": 5, "b": 1}


def test_a_retried_event_in_a_new_record_counts_once_and_is_tallied_once() -> None:
    boards = InMemoryBoards()
    event = kafka_event(record(0, 1, score("a", "m1", 2)), record(0, 2, score("a", "m1", 2)))
    failures, tally = process(boards, RecordingDeadLetters(), event)
    assert failures == []
    assert (tally.applied, tally.duplicates, tally.redelivered) == (1, 1, 0)
    assert {window: updates.skipped for window, updates in tally.board_updates.items()} == dict.fromkeys(Window, 1)
    assert boards.on(Window.ALLTIME, "all") == {"a": 2}


def test_poison_is_dead_lettered_with_its_position_and_the_partition_moves_on() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    event = kafka_event(record(0, 1, b"not json"), record(0, 2, score("a", "m1")))
    assert run(boards, letters, event) == []
    assert [(letter.partition, letter.offset) for letter in letters.letters] == [(0, 1)]
    assert "not JSON" in letters.letters[0].reason
    assert base64.b64decode(letters.letters[0].value or "") == b"not json"
    assert boards.on(Window.MONTHLY, "2026-11") == {"a": 1}


def test_a_failed_board_reports_its_partition_from_the_first_unapplied_offset() -> None:
    december = board(Window.MONTHLY, "2026-12")
    boards, letters = InMemoryBoards(failing_boards={december}), RecordingDeadLetters()
    event = kafka_event(
        record(0, 10, score("a", "m1", at=NOVEMBER)),
        record(0, 11, score("a", "m2", at=DECEMBER)),
        record(0, 12, score("a", "m3", at=NOVEMBER)),
        record(0, 13, b"{}"),
        record(1, 20, score("b", "m4", at=NOVEMBER)),
    )
    failures, tally = process(boards, letters, event)
    assert failures == [("score-events-0", 11), ("score-events-0", 12), ("score-events-0", 13)]
    assert (tally.applied, tally.failed) == (2, 3)
    assert letters.letters == [], "poison past the failure point waits for the redelivery"
    assert boards.on(Window.ALLTIME, "all") == {"a": 3, "b": 1}, "the other boards went on"

    boards.failing_boards.clear()
    redelivery = kafka_event(*[r for r in event["records"]["score-events-0"] if r["offset"] >= 11])
    failures, tally = process(boards, letters, redelivery)
    assert failures == []
    assert (tally.applied, tally.redelivered) == (1, 1), "11 still lacked December; 12 was on all its boards"
    assert tally.board_updates[Window.ALLTIME].skipped == 2
    assert boards.on(Window.MONTHLY, "2026-11") == {"a": 2, "b": 1}
    assert boards.on(Window.MONTHLY, "2026-12") == {"a": 1}
    assert boards.on(Window.ALLTIME, "all") == {"a": 3, "b": 1}, "skipped by watermark, not counted twice"
    assert [letter.offset for letter in letters.letters] == [13]


def test_poison_that_cannot_be_dead_lettered_is_retried_not_dropped() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters(refuse=True)
    event = kafka_event(record(0, 1, score("a", "m1")), record(0, 2, b"garbage"), record(0, 3, score("a", "m2")))
    assert run(boards, letters, event) == [("score-events-0", 2), ("score-events-0", 3)]


class UnreplicatedBoards(InMemoryBoards):
    """Applies on the primary, but no replica confirms the weekly board's write in time."""

    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        result = super().apply(board, partition, scores, expires_at_ms=expires_at_ms)
        if board.window is Window.WEEKLY and partition == "score-events-0":
            raise ReplicationLagging("0 of 1 replicas confirmed within 1000 ms")
        return result


def test_a_write_no_replica_confirmed_is_redelivered_and_then_counts_once() -> None:
    boards, letters = UnreplicatedBoards(), RecordingDeadLetters()
    event = kafka_event(
        record(0, 4, score("a", "m1", 2)), record(0, 5, score("a", "m2")), record(1, 7, score("b", "m3", at=DECEMBER))
    )
    assert run(boards, letters, event) == [("score-events-0", 4), ("score-events-0", 5)]

    healthy = InMemoryBoards()
    healthy.store = boards.store  # the same boards, now reachable
    assert run(healthy, letters, kafka_event(*event["records"]["score-events-0"])) == []
    assert healthy.on(Window.WEEKLY, "2026-W45") == {"a": 3}
    assert healthy.on(Window.ALLTIME, "all") == {"a": 3, "b": 1}


def test_whole_batch_failure_raises_so_lambda_retries_it() -> None:
    boards, letters = InMemoryBoards(failing_boards={board(Window.DAILY, "2026-11-05")}), RecordingDeadLetters()
    with pytest.raises(Exception, match="All records failed"):
        run(boards, letters, kafka_event(record(0, 1, score("a", "m1"))))


def test_sample_event_decodes() -> None:
    event = load_event("kafka_batch.json")
    boards = InMemoryBoards()
    assert run(boards, RecordingDeadLetters(), event) == []
    assert sum(boards.on(Window.MONTHLY, "2026-11").values()) == 18
    assert sum(boards.on(Window.ALLTIME, "all").values()) == 18


def test_after_a_failed_slice_the_later_slices_of_that_board_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.application.apply.APPLY_SLICE", 2)
    monkeypatch.setattr("shared.application.apply.FIRST_APPLY_SLICE", 2)
    boards, letters = InMemoryBoards(failing_calls={2}), RecordingDeadLetters()
    event = kafka_event(*[record(0, offset, score(f"u{offset}", f"m{offset}")) for offset in range(1, 8)])
    failures = run(boards, letters, event, MONTHLY_ONLY)
    assert failures == [("score-events-0", offset) for offset in range(3, 8)]
    assert len(boards.calls) == 2, "slices above the failed one are not sent"
    assert boards.watermarks[(board(Window.MONTHLY, "2026-11"), "score-events-0")] == 2
    redelivery = kafka_event(*[r for r in event["records"]["score-events-0"] if r["offset"] >= 3])
    assert run(boards, letters, redelivery, MONTHLY_ONLY) == []
    assert sum(boards.on(Window.MONTHLY, "2026-11").values()) == 7


def test_a_failed_slice_of_one_board_holds_back_that_board_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.application.apply.APPLY_SLICE", 2)
    monkeypatch.setattr("shared.application.apply.FIRST_APPLY_SLICE", 2)
    daily = board(Window.DAILY, "2026-11-05")
    boards = InMemoryBoards(failing_from={daily: 3})
    event = kafka_event(*[record(0, offset, score(f"u{offset}", f"m{offset}")) for offset in range(1, 8)])
    failures, tally = process(boards, RecordingDeadLetters(), event)
    assert failures == [("score-events-0", offset) for offset in range(3, 8)]
    assert boards.offsets_sent(Window.DAILY, "2026-11-05") == [[1, 2], [3, 4]], "its later slices wait"
    assert boards.offsets_sent(Window.MONTHLY, "2026-11") == [[1, 2], [3, 4], [5, 6], [7]]
    assert (tally.applied, tally.failed) == (2, 5)
    assert tally.board_updates[Window.MONTHLY].applied == 7

    boards.failing_from.clear()
    redelivery = kafka_event(*[r for r in event["records"]["score-events-0"] if r["offset"] >= 3])
    _, tally = process(boards, RecordingDeadLetters(), redelivery)
    assert tally.applied == 5
    assert tally.board_updates[Window.MONTHLY].skipped == 5
    assert all(sum(points.values()) == 7 for points in boards.points.values())


def test_each_record_is_tallied_once_by_what_its_boards_did_with_it() -> None:
    daily = BoardSliceOutcome(applied=2, redelivered=[3], duplicates=[4], unverified=[5, 6])
    weekly = BoardSliceOutcome(applied=1, redelivered=[2, 3], duplicates=[4], unverified=[5])
    tally = BatchTally()
    # offset -> boards it was sent to: 1 and 2 went to both, 3..5 to both, 6 to the daily board only, 7 to none
    tally.add_records({1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 1, 7: 0, 8: 2}, [daily, weekly], failed_from=8)
    assert (tally.applied, tally.redelivered, tally.duplicates, tally.on_no_board) == (2, 1, 1, 1)
    assert tally.unverified == 2, "skipped as unverified by every board it went to"

    mixed = BatchTally()
    mixed.add_records({9: 2}, [BoardSliceOutcome(applied=1), BoardSliceOutcome(unverified=[9])], failed_from=None)
    assert (mixed.applied, mixed.unverified) == (1, 1), "applied to one board, and may need a replay on the other"


class CappingBoards(InMemoryBoards):
    """Reports every applied record of the monthly board as held at the cap."""

    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        result = super().apply(board, partition, scores)
        return ApplyResult(result.applied, capped=result.applied if board.window is Window.MONTHLY else 0)


def test_updates_held_at_the_cap_are_counted_per_window() -> None:
    event = kafka_event(record(0, 1, score("a", "m1")), record(0, 2, score("a", "m2")))
    failures, tally = process(CappingBoards(), RecordingDeadLetters(), event)
    assert failures == []
    assert {window: updates.capped for window, updates in tally.board_updates.items()} == {
        Window.DAILY: 0,
        Window.WEEKLY: 0,
        Window.MONTHLY: 2,
        Window.ALLTIME: 0,
    }


def test_partitions_are_sent_in_turns_of_growing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shared.application.apply.APPLY_SLICE", 8)
    monkeypatch.setattr("shared.application.apply.FIRST_APPLY_SLICE", 2)
    monkeypatch.setattr("shared.application.apply.SLICE_GROWTH", 1.5)
    boards = InMemoryBoards()
    event = kafka_event(
        *[record(0, offset, score(f"u{offset}", f"m{offset}")) for offset in range(1, 21)],
        *[record(1, offset, score(f"v{offset}", f"n{offset}")) for offset in range(1, 11)],
    )
    assert run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY) == []
    # Each partition's calls are in order; two partitions' calls may interleave (two threads send them).
    assert sorted(((partition, offsets) for _, partition, offsets in boards.calls), key=lambda call: call[0]) == [
        ("score-events-0", [1, 2]),
        ("score-events-0", [3, 4, 5, 6]),
        ("score-events-0", list(range(7, 15))),
        ("score-events-0", list(range(15, 21))),
        ("score-events-1", [1, 2, 3]),
        ("score-events-1", list(range(4, 10))),
        ("score-events-1", [10]),
    ], "a run from each partition in turn, each run half as large again as the one before, up to full slices"


@pytest.mark.parametrize("failing_calls", [(), (2,), (1, 2)], ids=["applied", "partly failed", "all failed"])
def test_the_processor_keeps_no_record_after_its_batch(failing_calls: tuple[int, ...]) -> None:
    # The next batch would otherwise free this one's records before its first apply call.
    processor = ScoreBatchProcessor(InMemoryBoards(failing_calls=failing_calls), RecordingDeadLetters(), MONTHLY_ONLY)
    event = kafka_event(*[record(0, offset, score(f"u{offset}", f"m{offset}")) for offset in range(1, 301)])
    try:
        process_partial_response(event, decode_score_record, processor)
    except BatchProcessingError:
        assert len(failing_calls) > 1, "only a batch whose every record failed is raised whole"
    assert (processor.records, processor.success_messages, processor.fail_messages, processor.exceptions) == (
        [],
        [],
        [],
        [],
    )
