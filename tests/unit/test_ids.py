"""The id rule for match and user ids: one function, applied to bodies, the read path and Kafka records."""

from __future__ import annotations

import unicodedata

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.events import MAX_ID_LENGTH, InvalidId, ScoreSubmission, canonical_id, event_id_for
from shared.domain.record_codec import PoisonRecord, decode_record

COMPOSED = "Ångström"
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)


def refusal(value: object) -> str:
    with pytest.raises(InvalidId) as caught:
        canonical_id(value)
    return str(caught.value)


def test_composed_and_decomposed_spellings_are_one_id() -> None:
    assert DECOMPOSED != COMPOSED
    assert canonical_id(DECOMPOSED) == canonical_id(COMPOSED) == COMPOSED
    submitted = ScoreSubmission.model_validate({"match_id": "m", "user_id": DECOMPOSED})
    assert submitted.user_id == COMPOSED
    assert event_id_for("m", submitted.user_id) == event_id_for("m", COMPOSED)


def test_the_length_limit_counts_characters_after_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "é" * MAX_ID_LENGTH)
    assert len(decomposed) == 2 * MAX_ID_LENGTH
    assert canonical_id(decomposed) == "é" * MAX_ID_LENGTH
    assert "at most 128 characters" in refusal(unicodedata.normalize("NFD", "é" * (MAX_ID_LENGTH + 1)))
    assert "at most 128" in refusal("x" * (MAX_ID_LENGTH + 1))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty"),
        (" ", "only whitespace"),
        ("   ", "only whitespace"),
        (" alice", "start or end with whitespace"),
        ("alice ", "start or end with whitespace"),
        ("\u00a0alice", "start or end with whitespace"),
        ("ali\u200bce", "invisible or format character (U+200B)"),
        ("ali\u200dce", "invisible or format character (U+200D)"),
        ("\ufeffalice", "invisible or format character (U+FEFF)"),
        ("ali\u00adce", "invisible or format character (U+00AD)"),
        ("alice\u202e", "invisible or format character (U+202E)"),
        ("a\U000e0041b", "invisible or format character (U+E0041)"),
        ("ali\u2028ce", "line separator (U+2028)"),
        ("ali\u2029ce", "paragraph separator (U+2029)"),
        ("\u0301alice", "combining mark (U+0301)"),
        ("\u0903alice", "combining mark (U+0903)"),
        ("\u20ddalice", "combining mark (U+20DD)"),
        ("a\u0007b", "control or unprintable character (U+0007)"),
        ("a\u3000b", "space other than U+0020 (U+3000)"),
        (42, "must be a string"),
    ],
)
def test_refused_ids_say_why(value: object, reason: str) -> None:
    assert reason in refusal(value)


@pytest.mark.parametrize("value", ["alice", "プレイヤー 🎮", "a\u0301", "👍🏽", "ok\ufe0f", "x" * MAX_ID_LENGTH, "a b"])
def test_accepted_ids(value: str) -> None:
    assert canonical_id(value) == unicodedata.normalize("NFC", value)


@given(st.text(max_size=2 * MAX_ID_LENGTH))
def test_an_accepted_id_is_its_own_canonical_form(value: str) -> None:
    try:
        accepted = canonical_id(value)
    except InvalidId:
        return
    assert canonical_id(accepted) == accepted
    assert unicodedata.is_normalized("NFC", accepted) and 1 <= len(accepted) <= MAX_ID_LENGTH
    assert accepted == accepted.strip() and accepted.isprintable()
    assert not unicodedata.category(accepted[0]).startswith("M")


def record(user_id: str) -> bytes:
    return orjson.dumps(
        {
            "v": 1,
            "event_id": event_id_for("m", user_id),
            "match_id": "m",
            "user_id": user_id,
            "points": 1,
            "occurred_at": 1,
        }
    )


def test_the_record_decoder_applies_the_same_rule() -> None:
    assert decode_record(record(DECOMPOSED)).user_id == COMPOSED
    for refused in (" alice", "ali\u200bce", "\u0301alice"):
        with pytest.raises(PoisonRecord, match="user_id"):
            decode_record(record(refused))
