"""More of shared/application/apply.py where `make mutation` found it untested: what a settlement
says, the watermark a reset is reported under, the Kafka timestamp each score carries, the report's
player bound at its edge, and which thread a (partition, board) is given to."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from shared.application.apply import (
    ApplyQueue,
    ApplyResult,
    DeadLetter,
    DeadLetterUnavailable,
    PartitionSettlement,
    PendingScore,
    ScoreApplier,
)
from shared.domain.board_changes import MAX_PLAYERS_PER_BOARD
from shared.domain.boards import Board, Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import PoisonRecord
from tests.support.updater_fakes import (
    EVERY_WINDOW,
    NOVEMBER,
    InMemoryBoards,
    RecordingDeadLetters,
)

pytestmark = pytest.mark.unit

MONTH = Window.MONTHLY.parse_period("2026-11")


def event(user: str) -> ScoreEvent:
    return ScoreEvent(event_id_for("m1", user), "m1", user, 1, NOVEMBER)


def letter_for(partition: str, offset: int, error: PoisonRecord) -> DeadLetter:
    return DeadLetter("local", partition, 0, offset, None, None, None, str(error))


class Resetting(InMemoryBoards):
    """Every call reports that the partition's offsets restarted."""

    def apply(self, board: Board, partition: str, scores: list[PendingScore], **options: Any) -> ApplyResult:
        applied = super().apply(board, partition, scores, **options)
        return ApplyResult(applied.applied, resets=applied.applied)


def test_a_clean_partition_settles_with_no_failure_and_a_reset_is_reported_by_watermark() -> None:
    batch = ScoreApplier(Resetting(), RecordingDeadLetters(), EVERY_WINDOW).begin()
    batch.submit("scores-0", "cluster-a/scores-0", [(1, event("ann"), NOVEMBER)])
    assert batch.settle(letter_for) == {"scores-0": PartitionSettlement(None, None)}
    assert batch.tally.reset_partitions == {"cluster-a/scores-0"}


def test_poison_that_cannot_be_dead_lettered_says_which_offset() -> None:
    batch = ScoreApplier(InMemoryBoards(), RecordingDeadLetters(refuse=True), EVERY_WINDOW).begin()
    batch.submit("scores-0", "scores-0", [(4, PoisonRecord("not JSON"), NOVEMBER), (5, event("ann"), NOVEMBER)])
    ((failed_from, failure),) = batch.settle(letter_for).values()
    assert failed_from == 4
    assert isinstance(failure, DeadLetterUnavailable) and str(failure) == "could not dead-letter scores-0 offset 4"


class ScoresSeen(InMemoryBoards):
    def __init__(self) -> None:
        super().__init__()
        self.scores: list[PendingScore] = []

    def apply(self, board: Board, partition: str, scores: list[PendingScore], **options: Any) -> ApplyResult:
        self.scores.extend(scores)
        return super().apply(board, partition, scores, **options)


def test_each_score_carries_its_records_kafka_timestamp() -> None:
    boards = ScoresSeen()
    batch = ScoreApplier(boards, RecordingDeadLetters(), EVERY_WINDOW).begin()
    batch.submit("scores-0", "scores-0", [(1, event("ann"), NOVEMBER + 7)])
    batch.settle(letter_for)
    assert {score.produced_at_ms for score in boards.scores} == {NOVEMBER + 7}


def test_exactly_the_bound_of_players_is_still_listed_in_the_change_report() -> None:
    batch = ScoreApplier(InMemoryBoards(), RecordingDeadLetters(), EVERY_WINDOW).begin()
    users = [f"p{n}" for n in range(MAX_PLAYERS_PER_BOARD)]
    batch.submit("scores-0", "scores-0", [(n, event(user), NOVEMBER) for n, user in enumerate(users)])
    batch.settle(letter_for)
    assert batch.changes[MONTH] == set(users)


class RecordingWorker:
    """Stands in for a one-thread executor: runs each call at once and notes it."""

    def __init__(self) -> None:
        self.boards: list[Board] = []

    def submit(self, call: Any, *args: Any) -> Future[None]:
        self.boards.append(args[2])
        done: Future[None] = Future()
        done.set_result(call(*args))
        return done


def test_every_call_of_one_partition_and_board_goes_to_the_same_worker() -> None:
    workers = [RecordingWorker() for _ in range(3)]
    queue = ApplyQueue(InMemoryBoards(), workers)  # type: ignore[arg-type]
    day = Window.DAILY.parse_period("2026-11-05")
    ann = PendingScore(1, bytes(16), "ann", 1, 0, NOVEMBER)
    for board in (MONTH, day, MONTH):
        queue.submit("scores-0", "scores-0", board, [ann])
    queue.finish()
    assert [worker.boards for worker in workers] == [[MONTH, MONTH], [day], []]


def test_the_applier_gives_each_worker_one_thread_so_a_pairs_calls_run_in_order() -> None:
    applier = ScoreApplier(InMemoryBoards(), RecordingDeadLetters(), EVERY_WINDOW)
    assert {worker._max_workers for worker in applier._workers} == {1}
