from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.events import MAX_EPOCH_MS, InvalidId, ScoreEvent, canonical_id, event_id_for
from shared.domain.record_codec import (
    MAX_RECORD_POINTS,
    PoisonRecord,
    decode_record,
    encode_record,
    event_from_document,
    record_key,
)


def _is_canonical(value: str) -> bool:
    try:
        return canonical_id(value) == value
    except InvalidId:
        return False


ids = st.text(min_size=1, max_size=128).filter(_is_canonical)


@given(ids, ids, st.integers(1, 10_000), st.integers(0, 4_102_444_800_000))
def test_round_trip(match_id: str, user_id: str, points: int, occurred_at: int) -> None:
    event = ScoreEvent(event_id_for(match_id, user_id), match_id, user_id, points, occurred_at)
    assert decode_record(encode_record(event)) == event
    assert record_key(event) == user_id.encode()


def good() -> dict[str, object]:
    return {
        "v": 1,
        "event_id": event_id_for("m", "u"),
        "match_id": "m",
        "user_id": "u",
        "points": 3,
        "occurred_at": 1,
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "no value"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({**good(), "v": 2}), "schema version"),
        (orjson.dumps({k: v for k, v in good().items() if k != "v"}), "schema version"),
        (orjson.dumps({**good(), "points": 0}), "points"),
        (orjson.dumps({**good(), "points": "3"}), "points"),
        (orjson.dumps({**good(), "user_id": ""}), "user_id"),
        (orjson.dumps({**good(), "event_id": "forged"}), "event_id"),
        (orjson.dumps({**good(), "event_id": None}), "event_id"),
        (orjson.dumps({**good(), "occurred_at": None}), "occurred_at"),
    ],
)
def test_poison_is_recognised_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(PoisonRecord, match=reason):
        decode_record(value)


def _outcome(decode: Callable[[], ScoreEvent]) -> ScoreEvent | str:
    try:
        return decode()
    except PoisonRecord as poison:
        return f"poison: {poison}"


_edge_ints = st.one_of(
    st.integers(-2, 2),
    st.integers(MAX_RECORD_POINTS - 1, MAX_RECORD_POINTS + 1),
    st.integers(MAX_EPOCH_MS - 1, MAX_EPOCH_MS + 1),
    st.integers(-(2**63), 2**63 - 1),
)
_any_field = st.one_of(
    st.none(), st.booleans(), _edge_ints, st.floats(allow_nan=False), st.text(max_size=140), st.just([1])
)
_id_like = st.one_of(
    st.text(min_size=0, max_size=130),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=0, max_size=130),
    st.sampled_from(["u", " u", "u ", "\tu", "u\n", "é", "e\u0301", "\u200bu", "\u0301u", "x" * 128, "x" * 129]),
    _any_field,
)
_documents = st.fixed_dictionaries(
    {},
    optional={
        "v": st.one_of(st.sampled_from([1, 1.0, True, 2, 0, "1"]), _any_field),
        "event_id": st.one_of(st.text(min_size=31, max_size=33), _any_field),
        "match_id": _id_like,
        "user_id": _id_like,
        "points": st.one_of(_edge_ints, _any_field),
        "occurred_at": st.one_of(_edge_ints, _any_field),
        "received_at": st.one_of(_edge_ints, _any_field),
    },
)


@given(_documents)
def test_the_inline_checks_decide_as_the_field_by_field_ones(document: dict[str, Any]) -> None:
    """decode_record checks the records ingest writes inline, for speed; whatever the document,
    it must accept, refuse and name the problem exactly as the field-by-field checks do."""
    value = orjson.dumps(document)
    assert _outcome(lambda: decode_record(value)) == _outcome(lambda: event_from_document(orjson.loads(value)))


@given(
    ids, ids, st.integers(1, MAX_RECORD_POINTS), st.integers(0, MAX_EPOCH_MS), st.none() | st.integers(0, MAX_EPOCH_MS)
)
def test_every_record_ingest_writes_is_taken_by_the_inline_checks(
    match_id: str, user_id: str, points: int, occurred_at: int, received_at: int | None
) -> None:
    event = ScoreEvent(event_id_for(match_id, user_id), match_id, user_id, points, occurred_at, received_at)
    document = orjson.loads(encode_record(event))
    assert event_from_document(document) == event
    assert decode_record(encode_record(event)) == event
