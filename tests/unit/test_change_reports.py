"""What the updater reports to the live notifier: the boards that applied records and their
players (bounded), nothing for a batch that changed nothing, and never a failed batch for a
report that could not be sent."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response

from shared.adapters.msk_batch import ScoreBatchProcessor, decode_score_record
from shared.domain.board_changes import MAX_PLAYERS_PER_BOARD, decode_changes, encode_changes
from shared.domain.boards import Window
from tests.support.handler_calls import load
from tests.support.updater_fakes import (
    MONTHLY_ONLY,
    InMemoryBoards,
    RecordingDeadLetters,
    board,
    kafka_event,
    record,
    score,
)

NOVEMBER_BOARD = board(Window.MONTHLY, "2026-11")


def changes_after(processor: ScoreBatchProcessor, event: dict[str, Any]) -> dict[Any, Any]:
    process_partial_response(event, decode_score_record, processor)
    return processor.changes


def test_the_boards_that_applied_records_are_reported_with_their_players() -> None:
    processor = ScoreBatchProcessor(InMemoryBoards(), RecordingDeadLetters(), MONTHLY_ONLY)
    event = kafka_event(record(0, 1, score("ann", "m1")), record(0, 2, score("bob", "m1")))
    assert changes_after(processor, event) == {NOVEMBER_BOARD: {"ann", "bob"}}


def test_a_redelivered_batch_reports_nothing() -> None:
    boards = InMemoryBoards()
    event = kafka_event(record(0, 1, score("ann", "m1")))
    changes_after(ScoreBatchProcessor(boards, RecordingDeadLetters(), MONTHLY_ONLY), event)
    again = ScoreBatchProcessor(boards, RecordingDeadLetters(), MONTHLY_ONLY)
    assert changes_after(again, event) == {}


def test_more_players_than_a_report_lists_become_any_player() -> None:
    processor = ScoreBatchProcessor(InMemoryBoards(), RecordingDeadLetters(), MONTHLY_ONLY)
    records = [record(0, n, score(f"p{n}", "m1")) for n in range(MAX_PLAYERS_PER_BOARD + 1)]
    changes = changes_after(processor, kafka_event(*records))
    assert changes == {NOVEMBER_BOARD: None}
    (change,), _ = decode_changes(encode_changes(changes, 1))
    assert change.board == NOVEMBER_BOARD and change.players is None


class FailingReporter:
    def __init__(self) -> None:
        self.calls = 0

    def report(self, changes: Any, applied_at_ms: int) -> None:
        self.calls += 1
        raise ConnectionError("SQS is away")


def test_a_report_that_cannot_be_sent_does_not_fail_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = load("score_updater")
    module = __import__(handler.__module__)
    reporter = FailingReporter()
    monkeypatch.setattr(module, "change_reporter", reporter)
    processor = ScoreBatchProcessor(InMemoryBoards(), RecordingDeadLetters(), MONTHLY_ONLY)
    changes_after(processor, kafka_event(record(0, 1, score("ann", "m1"))))
    module.report_changes(processor)  # must not raise
    assert reporter.calls == 1
