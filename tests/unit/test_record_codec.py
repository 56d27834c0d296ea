import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.events import InvalidId, ScoreEvent, canonical_id, event_id_for
from shared.domain.record_codec import PoisonRecord, decode_record, encode_record, record_key


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
