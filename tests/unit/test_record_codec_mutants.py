"""shared/domain/record_codec.py where `make mutation` found it untested: the bounds of a record's
integer fields, and the exact words with which a record is dead-lettered."""

from __future__ import annotations

import orjson
import pytest

from shared.domain.events import MAX_EPOCH_MS, ScoreEvent, event_id_for
from shared.domain.record_codec import MAX_RECORD_POINTS, PoisonRecord, decode_record, encode_record


def record(**changes: object) -> bytes:
    event = ScoreEvent(event_id_for("m", "u"), "m", "u", 5, 1_000, 2_000)
    return orjson.dumps(orjson.loads(encode_record(event)) | changes)


def poison(value: bytes | None) -> str:
    with pytest.raises(PoisonRecord) as refused:
        decode_record(value)
    return str(refused.value)


def test_integer_fields_take_both_ends_of_their_range() -> None:
    assert decode_record(record(points=MAX_RECORD_POINTS)).points == MAX_RECORD_POINTS
    assert decode_record(record(occurred_at=MAX_EPOCH_MS)).occurred_at_ms == MAX_EPOCH_MS
    assert decode_record(record(received_at=0)).received_at_ms == 0
    assert poison(record(points=MAX_RECORD_POINTS + 1)) == (
        f"field 'points' must be an integer within 1..{MAX_RECORD_POINTS}, got {MAX_RECORD_POINTS + 1}"
    )


def test_a_record_that_is_not_an_object_says_so() -> None:
    assert poison(None) == "record has no value"
    assert poison(b"[1, 2]") == "value is not a JSON object"
