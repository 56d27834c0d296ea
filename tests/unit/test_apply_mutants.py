"""shared/application/apply.py where `make mutation` found it untested: the dead letter's body and
fingerprint, event ids that are not ids, and the tallies that add up a batch's calls."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
import pytest

from shared.application.apply import (
    APPLY_SLICE,
    FIRST_APPLY_SLICE,
    MAX_INLINE_VALUE_CHARS,
    SLICE_GROWTH,
    ApplyResult,
    BatchTally,
    BoardSliceOutcome,
    DeadLetter,
    PendingScore,
    binary_event_id,
)
from shared.domain.boards import Board, Window
from shared.domain.events import ScoreEvent
from shared.domain.record_codec import PoisonRecord
from tests.support.updater_fakes import (
    MONTHLY_ONLY,
    InMemoryBoards,
    RecordingDeadLetters,
    kafka_event,
    process,
    record,
    run,
    score,
)


def letter(**changes: object) -> DeadLetter:
    fields: dict[str, object] = {
        "cluster": "local",
        "topic": "scores",
        "partition": 3,
        "offset": 41,
        "timestamp": 1_700_000_000_000,
        "key": "a2V5",
        "value": "dmFsdWU=",
        "reason": "not JSON",
    } | changes
    return DeadLetter(**fields)  # type: ignore[arg-type]


def test_a_dead_letter_body_names_every_field_of_the_record() -> None:
    assert json.loads(letter().body()) == {
        "reason": "not JSON",
        "cluster": "local",
        "topic": "scores",
        "partition": 3,
        "offset": 41,
        "timestamp": 1_700_000_000_000,
        "key": "a2V5",
        "value": "dmFsdWU=",
    }


def test_a_dead_letter_value_is_inlined_up_to_its_limit_and_cut_beyond() -> None:
    at_limit = "v" * MAX_INLINE_VALUE_CHARS
    assert json.loads(letter(value=at_limit).body())["value"] == at_limit
    assert "value_truncated" not in json.loads(letter(value=at_limit).body())
    over = json.loads(letter(value=at_limit + "w").body())
    assert (over["value"], over["value_truncated"]) == (at_limit, True)
    assert json.loads(letter(value=None).body())["value"] is None


def test_a_dead_letter_fingerprint_is_16_bytes_over_every_identifying_field() -> None:
    fingerprint = letter().fingerprint()
    assert len(bytes.fromhex(fingerprint)) == 16
    assert letter(reason="other", timestamp=None, key=None).fingerprint() == fingerprint
    others = [
        letter(cluster="other"),
        letter(topic="other"),
        letter(partition=4),
        letter(offset=42),
        letter(value="b3RoZXI="),
        letter(value=None),
        letter(cluster="local\x00scores", topic=""),  # the separator keeps fields from running together
    ]
    assert len({fingerprint} | {other.fingerprint() for other in others}) == len(others) + 1


def event_with_id(event_id: str) -> ScoreEvent:
    return ScoreEvent(event_id=event_id, match_id="m", user_id="u", points=1, occurred_at_ms=0)


def test_an_event_id_must_be_32_hexadecimal_characters() -> None:
    assert binary_event_id(event_with_id("ab" * 16)) == bytes([0xAB] * 16)
    with pytest.raises(PoisonRecord) as not_hex:
        binary_event_id(event_with_id("zz" * 16))
    assert str(not_hex.value) == "field 'event_id' must be hexadecimal"
    with pytest.raises(PoisonRecord) as too_short:
        binary_event_id(event_with_id("ab" * 15))
    assert str(too_short.value) == "field 'event_id' must be 32 hex characters"


def test_a_board_slice_adds_up_every_call() -> None:
    outcome = BoardSliceOutcome()
    outcome.add(
        ApplyResult(2, resets=1, redelivered=(1,), duplicates=(2,), unverified=(3,), capped=1, past_retention=(4,))
    )
    outcome.add(
        ApplyResult(3, resets=2, redelivered=(5,), duplicates=(6,), unverified=(7,), capped=2, past_retention=(8,))
    )
    assert (outcome.applied, outcome.resets, outcome.capped) == (5, 3, 3)
    assert (outcome.redelivered, outcome.duplicates, outcome.unverified, outcome.past_retention) == (
        [1, 5],
        [2, 6],
        [3, 7],
        [4, 8],
    )


def test_a_batch_tally_adds_up_each_window_over_its_boards() -> None:
    tally = BatchTally()
    first = BoardSliceOutcome(applied=2, redelivered=[1], duplicates=[2], unverified=[3], past_retention=[4], capped=1)
    second = BoardSliceOutcome(applied=3, resets=1, duplicates=[5], capped=2)
    tally.add_board(Window.DAILY, first, "p-0")
    tally.add_board(Window.DAILY, second, "p-1")
    tally.add_board(Window.MONTHLY, BoardSliceOutcome(applied=1), "p-2")
    daily, monthly = tally.board_updates[Window.DAILY], tally.board_updates[Window.MONTHLY]
    assert (daily.applied, daily.skipped, daily.capped) == (5, 5, 3)
    assert (monthly.applied, monthly.skipped, monthly.capped) == (1, 0, 0)
    assert tally.reset_partitions == {"p-1"}


def test_poison_that_cannot_be_dead_lettered_fails_itself_and_what_follows_in_every_partition() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters(refuse=True)
    event = kafka_event(
        record(0, 1, b"garbage"),
        record(0, 2, score("a", "m1")),
        record(1, 5, score("b", "m2")),
        record(1, 6, b"garbage"),
    )
    failures, tally = process(boards, letters, event)
    assert failures == [("score-events-0", 1), ("score-events-0", 2), ("score-events-1", 6)]
    assert (tally.failed, tally.dead_lettered, tally.applied) == (3, 0, 1)


def test_dead_letters_sent_are_counted_over_every_partition() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    event = kafka_event(record(0, 1, b"garbage"), record(1, 5, b"{}"), record(1, 6, b"[]"))
    failures, tally = process(boards, letters, event)
    assert failures == []
    assert (tally.dead_lettered, tally.failed) == (3, 0)


def test_a_record_whose_event_id_is_not_hexadecimal_is_dead_lettered_and_the_partition_goes_on() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    not_hex = orjson.loads(score("a", "m1")) | {"event_id": "zz" * 16}
    event = kafka_event(record(0, 1, orjson.dumps(not_hex)), record(0, 2, score("b", "m2")))
    assert run(boards, letters, event) == []
    assert [(letter.offset, letter.reason) for letter in letters.letters] == [
        (1, "field 'event_id' must be hexadecimal")
    ]
    assert boards.on(Window.MONTHLY, "2026-11") == {"b": 1}


def test_a_board_gets_its_records_in_slices_growing_to_at_most_apply_slice() -> None:
    ramp = [FIRST_APPLY_SLICE]
    while ramp[-1] < APPLY_SLICE:
        ramp.append(min(APPLY_SLICE, int(ramp[-1] * SLICE_GROWTH)))
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    count = sum(ramp) + APPLY_SLICE + 3
    event = kafka_event(*[record(0, offset, score(f"u{offset}", "m")) for offset in range(count)])
    assert run(boards, letters, event, MONTHLY_ONLY) == []
    sizes = [len(offsets) for offsets in boards.offsets_sent(Window.MONTHLY, "2026-11")]
    assert sizes == [*ramp, APPLY_SLICE, 3]
    assert len(boards.on(Window.MONTHLY, "2026-11")) == count


def test_a_dead_letter_fingerprint_hashes_each_field_followed_by_a_zero_byte() -> None:
    expected = hashlib.blake2b(b"local\x00scores\x003\x0041\x00dmFsdWU=\x00", digest_size=16).hexdigest()
    assert letter().fingerprint() == expected
    without_value = hashlib.blake2b(b"local\x00scores\x003\x0041\x00\x00", digest_size=16).hexdigest()
    assert letter(value=None).fingerprint() == without_value


def test_a_batch_tally_counts_every_record_of_each_kind_and_stops_at_the_failure() -> None:
    tally = BatchTally()
    one_board = BoardSliceOutcome(duplicates=[1, 2], past_retention=[3, 4], unverified=[5])
    tally.add_records({0: 0, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 0, 7: 1, 8: 0}, [one_board], failed_from=7)
    assert (tally.on_no_board, tally.duplicates, tally.past_retention, tally.unverified) == (2, 2, 2, 1)


class PartitionNamesSeen(InMemoryBoards):
    """Notes the names each apply call gives its partition: scoped by the cluster, and as before scoping."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[tuple[str, str]] = set()

    def apply(self, board: Board, partition: str, scores: list[PendingScore], **options: Any) -> ApplyResult:
        self.names.add((partition, options["unscoped_partition"]))
        return super().apply(board, partition, scores, **options)


def test_each_apply_call_names_its_partition_and_the_partition_as_before_watermarks_were_scoped() -> None:
    boards = PartitionNamesSeen()
    event = kafka_event(record(0, 1, score("a", "m1")), record(1, 2, score("b", "m2")))
    assert run(boards, RecordingDeadLetters(), event) == []
    # Without a cluster in the event (self-managed Kafka) the scoped name is the partition's own.
    assert boards.names == {("score-events-0", "score-events-0"), ("score-events-1", "score-events-1")}
