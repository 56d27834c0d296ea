"""Contracts of the ports that have a stand-in in tests/support: one set of tests, run against the
stand-in (tests/unit/test_port_contracts.py) and against the real adapter on real servers
(tests/integration/test_port_contracts.py), so the stand-ins the unit tier relies on are proven to
behave as production does.

A test class there inherits a contract and provides its fixtures; the contracts are not collected
here (their names do not start with Test).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from shared.application.apply import ApplyResult, BoardWriter, DeadLetter, DeadLetterSink, PendingScore
from shared.application.ingest import IngestService, Ledger, Submission, SubmissionState
from shared.application.queries import BoardReader, LeaderboardQueries, Ties
from shared.domain.boards import Board, BoardSchedule, Window
from shared.domain.errors import BrokerUnavailable, LedgerUnavailable
from shared.domain.events import ScoreEvent, event_id_for
from tests.support.ingest_ports import RecordingPublisher

AT = 1_560_000_000_000  # 2019-06-08T13:20:00Z
EVERY_BOARD = BoardSchedule(tuple(Window))


def fresh_event(points: int = 2, user: str = "ann") -> ScoreEvent:
    match = f"contract-{uuid.uuid4().hex[:12]}"
    return ScoreEvent(event_id_for(match, user), match, user, points, AT)


class LedgerContract:
    """Fixtures: `ledger` (a working Ledger, fresh events need no cleanup) and `unreachable_ledger`."""

    def test_a_first_claim_finds_nothing_and_the_next_finds_it_pending(self, ledger: Ledger) -> None:
        event = fresh_event(points=3)._replace(received_at_ms=AT + 1500)
        assert ledger.claim([event]) == [None]
        assert ledger.claim([event]) == [Submission(SubmissionState.PENDING, 3, AT, AT + 1500)]

    def test_a_claim_keeps_the_first_version(self, ledger: Ledger) -> None:
        event = fresh_event(points=3)
        ledger.claim([event])
        ledger.claim([event._replace(points=9, occurred_at_ms=AT + 60_000)])
        assert ledger.peek([event]) == [Submission(SubmissionState.PENDING, 3, AT)]

    def test_the_same_event_twice_in_one_claim_finds_its_own_claim(self, ledger: Ledger) -> None:
        event = fresh_event()
        assert ledger.claim([event, event]) == [None, Submission(SubmissionState.PENDING, 2, AT)]

    def test_a_confirmed_event_reads_back_accepted(self, ledger: Ledger) -> None:
        confirmed, pending = fresh_event(points=2), fresh_event(points=5)
        ledger.claim([confirmed, pending])
        ledger.confirm([confirmed])
        assert ledger.peek([confirmed, pending]) == [
            Submission(SubmissionState.ACCEPTED, 2, AT),
            Submission(SubmissionState.PENDING, 5, AT),
        ]

    def test_a_peek_claims_nothing(self, ledger: Ledger) -> None:
        event = fresh_event()
        assert ledger.peek([event]) == [None]
        assert ledger.claim([event]) == [None], "the peek left no claim behind"

    def test_unreachable_is_ledger_unavailable(self, unreachable_ledger: Ledger) -> None:
        for operation in (unreachable_ledger.claim, unreachable_ledger.peek, unreachable_ledger.confirm):
            with pytest.raises(LedgerUnavailable):
                operation([fresh_event()])

    @pytest.mark.parametrize("stored", [False, True], ids=["publish lost", "publish unanswered"])
    def test_after_a_failed_publish_the_retry_publishes_and_the_next_retry_is_a_duplicate(
        self, ledger: Ledger, stored: bool
    ) -> None:
        """IngestService over this ledger: a claim stays open to the retry of a failed publish."""
        publisher = RecordingPublisher(failures=1, failures_stored=stored)
        service = IngestService(publisher, ledger, EVERY_BOARD)
        event = fresh_event()
        with pytest.raises(BrokerUnavailable):
            service.submit([event])
        assert ledger.peek([event]) == [Submission(SubmissionState.PENDING, 2, AT)]

        retry = service.submit([event])
        assert (retry.accepted, retry.duplicates) == (1, 0), "the retry is published"
        assert publisher.published == [event] * (2 if stored else 1)
        assert ledger.peek([event]) == [Submission(SubmissionState.ACCEPTED, 2, AT)]

        again = service.submit([event])
        assert (again.accepted, again.duplicates) == (1, 1), "a retry after the broker acknowledged is a duplicate"
        assert publisher.published == [event] * (2 if stored else 1), "not published again"


def letter(offset: int, reason: str = "field 'points' must be an integer") -> DeadLetter:
    return DeadLetter("contract", f"score-events-{uuid.uuid4().hex[:6]}", 0, offset, AT, None, "e30=", reason)


class DeadLetterContract:
    """Fixtures: `sink` (a working DeadLetterSink), `delivered` (reads back what reached the destination,
    as letter bodies) and `refusing_sink` (a destination that takes nothing)."""

    def test_every_letter_is_delivered_whole(self, sink: DeadLetterSink, delivered: Callable[[], list[str]]) -> None:
        letters = [letter(offset) for offset in range(13)]  # more than one SQS batch
        assert sink.send(letters) == []
        assert sorted(delivered()) == sorted(item.body() for item in letters)

    def test_nothing_to_send_sends_nothing(self, sink: DeadLetterSink, delivered: Callable[[], list[str]]) -> None:
        assert sink.send([]) == []
        assert delivered() == []

    def test_letters_the_destination_refuses_come_back_unsent(self, refusing_sink: DeadLetterSink) -> None:
        letters = [letter(offset) for offset in range(3)]
        assert refusing_sink.send(letters) == letters


MONTH = Window.MONTHLY.parse_period("2019-05")
ALLTIME = Window.ALLTIME.parse_period("all")
PARTITION = "contract/score-events-0"


def pending(offset: int, match: str, user: str, points: int = 1, tick: int = 0) -> PendingScore:
    return PendingScore(offset, bytes.fromhex(event_id_for(match, user)), user, points, tick, -1)


Held = Callable[[Board], dict[str, tuple[int, int]]]


class BoardWriterContract:
    """Fixtures: `writer` (a BoardWriter) and `held_on` (a board's (points, reached tick) per player, as
    the store holds them); every test starts from empty boards."""

    def test_points_add_up_once_per_event_and_redeliveries_are_skipped(
        self, writer: BoardWriter, held_on: Held
    ) -> None:
        first = writer.apply(MONTH, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
        again = writer.apply(MONTH, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
        retried = writer.apply(MONTH, PARTITION, [pending(12, "m1", "ann", 3), pending(13, "m3", "ann", 1)])
        assert [summary(result) for result in (first, again, retried)] == [
            (2, (), ()),
            (0, (10, 11), ()),
            (1, (), (12,)),
        ]
        assert {user: points for user, (points, _) in held_on(MONTH).items()} == {"ann": 4, "bob": 2}

    def test_a_total_stops_at_the_boards_largest_and_keeps_when_it_got_there(
        self, writer: BoardWriter, held_on: Held
    ) -> None:
        cap = ALLTIME.codec.max_points
        scores = [
            pending(0, "m1", "ann", cap - 1, tick=3),
            pending(1, "m2", "ann", 5, tick=7),
            pending(2, "m3", "ann", 1, 9),
        ]
        result = writer.apply(ALLTIME, PARTITION, scores)
        assert (result.applied, result.capped) == (3, 2)
        assert held_on(ALLTIME) == {"ann": (cap, 7)}

    def test_reached_is_the_latest_tick_whatever_the_order(self, writer: BoardWriter, held_on: Held) -> None:
        writer.apply(MONTH, PARTITION, [pending(0, "m1", "ann", 2, tick=50), pending(1, "m2", "ann", 1, tick=10)])
        assert held_on(MONTH) == {"ann": (3, 50)}


class BoardReaderContract:
    """Fixtures: `writer` (a BoardWriter) and `reader` (a BoardReader of the same boards); every test
    starts from empty boards."""

    def test_equal_points_rank_by_who_reached_them_first_or_share_a_rank(
        self, writer: BoardWriter, reader: BoardReader
    ) -> None:
        """ann reaches 3 points at tick 50 with an event that arrives first; bob reaches 3 at tick 40."""
        writer.apply(
            MONTH,
            PARTITION,
            [pending(0, "m1", "ann", 2, tick=50), pending(1, "m2", "ann", 1, tick=10), pending(2, "m3", "bob", 3, 40)],
        )
        queries = LeaderboardQueries(reader, (Window.MONTHLY,), clock=lambda: MONTH.start_ms)
        top = queries.top(MONTH, offset=0, limit=10)
        assert [(standing.rank, standing.user_id) for standing in top.entries] == [(1, "bob"), (2, "ann")]
        shared = queries.top(MONTH, offset=0, limit=10, ties=Ties.SHARED)
        assert [standing.rank for standing in shared.entries] == [1, 1]
        assert queries.top(MONTH, offset=1, limit=10, ties=Ties.SHARED).entries == shared.entries[1:]

    def test_a_player_reads_with_rank_neighbours_and_percentile(self, writer: BoardWriter, reader: BoardReader) -> None:
        writer.apply(MONTH, PARTITION, [pending(n, f"m{n}", user, 10 - n) for n, user in enumerate("abcde")])
        queries = LeaderboardQueries(reader, (Window.MONTHLY,), clock=lambda: MONTH.start_ms)
        found = queries.player(MONTH, "d", around=1)
        assert found is not None
        assert (found.standing.rank, found.standing.points, found.total, found.percentile) == (4, 7, 5, 40.0)
        assert [standing.user_id for standing in found.around] == ["c", "d", "e"]
        assert queries.player(MONTH, "nobody", around=1) is None
        assert reader.existing([MONTH, ALLTIME]) == {MONTH}


def summary(result: ApplyResult) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    return result.applied, result.redelivered, result.duplicates
