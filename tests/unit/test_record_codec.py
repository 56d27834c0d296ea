from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import record_codec
from shared.domain.events import MAX_EPOCH_MS, InvalidId, ScoreEvent, canonical_id, event_id_for
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.record_codec import (
    MAX_RECORD_POINTS,
    MODERATION_TYPE,
    PoisonRecord,
    decode_moderation,
    decode_record,
    decode_update,
    encode_moderation,
    encode_record,
    event_from_document,
    is_moderation,
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
    """decode_record takes the records ingest writes on a fast path, for speed; whatever the
    document, it must accept, refuse and name the problem exactly as the field-by-field checks do."""
    value = orjson.dumps(document)
    assert _outcome(lambda: decode_record(value)) == _outcome(lambda: event_from_document(orjson.loads(value)))


@given(
    ids, ids, st.integers(1, MAX_RECORD_POINTS), st.integers(0, MAX_EPOCH_MS), st.none() | st.integers(0, MAX_EPOCH_MS)
)
def test_every_record_ingest_writes_is_taken_by_the_fast_path(
    match_id: str, user_id: str, points: int, occurred_at: int, received_at: int | None
) -> None:
    event = ScoreEvent(event_id_for(match_id, user_id), match_id, user_id, points, occurred_at, received_at)
    document = orjson.loads(encode_record(event))
    assert event_from_document(document) == event
    assert decode_record(encode_record(event)) == event


def _update_outcome(decode: Callable[[], ScoreEvent | ModerationAction]) -> ScoreEvent | ModerationAction | str:
    try:
        return decode()
    except PoisonRecord as poison:
        return f"poison: {poison}"


def _update_field_by_field(document: dict[str, Any]) -> ScoreEvent | ModerationAction:
    return decode_moderation(document) if is_moderation(document) else event_from_document(document)


_MODERATION_FIELDS = {
    "action_id": st.one_of(st.just(action_id_for("request-1", "cheater")), _any_field),
    "action": st.one_of(st.sampled_from([kind.value for kind in ModerationKind]), _any_field),
    "reason": st.one_of(st.just("aimbot"), _any_field),
    "actor": st.one_of(st.just("arn:aws:iam::123456789012:role/admin"), _any_field),
    "until": st.one_of(st.none(), _edge_ints),
    "window": st.one_of(st.none(), st.just("weekly"), _any_field),
    "period": st.one_of(st.none(), st.just("2026-W05"), _any_field),
}
_typed_documents = st.builds(
    lambda document, typed: {**document, **typed},
    _documents,
    st.fixed_dictionaries(
        {},
        optional={
            "type": st.one_of(st.sampled_from([MODERATION_TYPE, "score", "Moderation", ""]), _any_field),
            **_MODERATION_FIELDS,
        },
    ),
)


@given(_typed_documents)
def test_decode_update_decides_as_the_field_by_field_checks_whatever_the_type(document: dict[str, Any]) -> None:
    """A moderation record never takes the score fast path, whatever score fields it also holds:
    decode_update accepts, refuses and names the problem as the field-by-field checks do."""
    value = orjson.dumps(document)
    assert _update_outcome(lambda: decode_update(value)) == _update_outcome(
        lambda: _update_field_by_field(orjson.loads(value))
    )


def test_a_moderation_record_with_every_score_field_is_still_an_action() -> None:
    action = ModerationAction(
        action_id=action_id_for("request-1", "cheater"),
        user_id="cheater",
        kind=ModerationKind.BAN,
        reason="aimbot",
        actor="arn:aws:iam::123456789012:role/admin",
        received_at_ms=1_000,
        until_ms=None,
    )
    score = ScoreEvent(event_id_for("m1", "cheater"), "m1", "cheater", 5, 2_000, 1_000)
    value = orjson.dumps({**orjson.loads(encode_record(score)), **orjson.loads(encode_moderation(action))})
    assert decode_update(value) == action


def test_a_score_record_ingest_wrote_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def field_by_field(document: dict[str, Any]) -> ScoreEvent:
        raise AssertionError("a well-formed score record took the slow path")

    monkeypatch.setattr(record_codec, "event_from_document", field_by_field)
    event = ScoreEvent(event_id_for("m1", "ann"), "m1", "ann", 5, 2_000, 1_000)
    assert decode_update(encode_record(event)) == event


def _reference_update(value: bytes) -> ScoreEvent | ModerationAction:
    """decode_update without its fast path: parse with orjson, then check field by field."""
    return _update_field_by_field(record_codec._document_of(value))


_json_fields = st.one_of(
    st.sampled_from(["v", "event_id", "match_id", "user_id", "points", "occurred_at", "received_at", "type"]),
    st.text(max_size=12),
)
_json_values = st.one_of(
    st.sampled_from(
        [b"1", b"1.0", b"-0", b"1e2", b"01", b"true", b"null", b"NaN", b'"u"', b'"\\ud800"', b'"\\u0000u"', b"[]"]
    ),
    _any_field.map(orjson.dumps),
    st.just(orjson.dumps(event_id_for("m", "u"))),
)
_json_texts = st.lists(st.tuples(_json_fields, _json_values), max_size=10).map(
    lambda pairs: b"{" + b",".join(orjson.dumps(name) + b":" + value for name, value in pairs) + b"}"
)


def _near_miss(value: bytes, cut: int, byte: int) -> bytes:
    """A record ingest wrote with one byte changed: where hand-written producers go wrong."""
    at = cut % len(value)
    return value[:at] + bytes([byte]) + value[at + 1 :]


_written = st.builds(
    lambda user, points: encode_record(ScoreEvent(event_id_for("m1", user), "m1", user, points, 2_000, None)),
    ids,
    st.integers(1, MAX_RECORD_POINTS),
)


@given(
    st.one_of(
        st.binary(max_size=200),
        _json_texts,
        st.builds(_near_miss, _written, st.integers(0, 10_000), st.integers(0, 255)),
    )
)
def test_any_bytes_decode_as_parsing_then_checking_field_by_field(value: bytes) -> None:
    """Raw bytes, duplicate keys (the last one counts), numbers as JSON spells them, escapes, one
    byte off a good record: the fast path takes only what the field-by-field checks would take the same."""
    assert _update_outcome(lambda: decode_update(value)) == _update_outcome(lambda: _reference_update(value))
    assert _outcome(lambda: decode_record(value)) == _outcome(
        lambda: event_from_document(record_codec._document_of(value))
    )


def test_a_repeated_key_counts_its_last_value_on_either_path() -> None:
    event = ScoreEvent(event_id_for("m1", "ann"), "m1", "ann", 5, 2_000, None)
    body = encode_record(event)[:-1]
    assert decode_update(body + b',"points":7}') == event._replace(points=7)
    assert decode_update(body + b',"user_id":"\\u00e9"}') == event._replace(user_id="\u00e9"), "the field-by-field path"


@pytest.mark.parametrize("field", ["match_id", "user_id"])
@pytest.mark.parametrize("spelled", [" u", "u ", "u\t", "\u00e9", "e\u0301", "\u200bu", "u\x00", "x" * 129])
def test_an_id_off_the_plain_case_is_decided_field_by_field(field: str, spelled: str) -> None:
    written = orjson.loads(encode_record(ScoreEvent(event_id_for("m1", "ann"), "m1", "ann", 5, 2_000, None)))
    value = orjson.dumps({**written, field: spelled})
    assert _update_outcome(lambda: decode_update(value)) == _update_outcome(lambda: _reference_update(value))
