"""The moderation record's round trip through the Kafka value, and what the updater refuses as poison."""

from __future__ import annotations

import orjson
import pytest

from shared.domain.events import InvalidInput
from shared.domain.moderation import (
    ModerationAction,
    ModerationKind,
    action_id_for,
    ban_in_force,
    checked_reason,
    checked_until,
)
from shared.domain.record_codec import PoisonRecord, decode_moderation, encode_moderation, is_moderation

pytestmark = pytest.mark.unit

BAN = ModerationAction(
    action_id=action_id_for("request-1", "cheater"),
    user_id="cheater",
    kind=ModerationKind.BAN,
    reason="aimbot",
    actor="arn:aws:iam::123456789012:role/leaderboard-admin",
    received_at_ms=1_000,
    until_ms=5_000,
)
RESET = BAN._replace(kind=ModerationKind.RESET, until_ms=None, window="weekly", period="2026-W05")


@pytest.mark.parametrize(
    "action", [BAN, BAN._replace(until_ms=None), BAN._replace(kind=ModerationKind.UNBAN, until_ms=None), RESET]
)
def test_an_action_comes_back_from_its_record_unchanged(action: ModerationAction) -> None:
    document = orjson.loads(encode_moderation(action))
    assert is_moderation(document)
    assert decode_moderation(document) == action


def test_a_score_record_is_not_a_moderation_record() -> None:
    assert not is_moderation({"v": 1, "event_id": "0" * 32})


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"v": 2}, "schema version"),
        ({"action_id": "short"}, "action_id"),
        ({"action": "delete"}, "action"),
        ({"reason": ""}, "reason"),
        ({"reason": "a\u202eb"}, "reason"),
        ({"actor": None}, "actor"),
        ({"user_id": " padded"}, "user_id"),
        ({"received_at": -1}, "received_at"),
        ({"until": "tomorrow"}, "until"),
    ],
)
def test_a_damaged_record_is_poison_naming_its_field(change: dict[str, object], named: str) -> None:
    document = orjson.loads(encode_moderation(BAN)) | change
    with pytest.raises(PoisonRecord, match=named):
        decode_moderation(document)


def test_a_reset_without_its_board_is_poison() -> None:
    document = orjson.loads(encode_moderation(RESET)) | {"period": None}
    with pytest.raises(PoisonRecord, match="names its board"):
        decode_moderation(document)


def test_the_same_request_is_the_same_action_and_another_player_another() -> None:
    assert action_id_for("r", "a") == action_id_for("r", "a")
    assert action_id_for("r", "a") != action_id_for("r", "b")
    assert action_id_for("r", "a") != action_id_for("s", "a")


def test_a_timed_ban_lifts_itself_at_its_end() -> None:
    assert ban_in_force(BAN, 4_999)
    assert not ban_in_force(BAN, 5_000)
    assert ban_in_force(BAN._replace(until_ms=None), 10**15)
    assert not ban_in_force(RESET, 0)


@pytest.mark.parametrize("reason", [None, "", "   ", "x" * 501, "tab\there"])
def test_a_reason_must_be_printable_text(reason: object) -> None:
    with pytest.raises(InvalidInput, match="reason"):
        checked_reason(reason)


def test_a_ban_cannot_end_before_it_starts() -> None:
    with pytest.raises(InvalidInput, match="until"):
        checked_until(1_000, received_at_ms=1_000)
    assert checked_until(1_001, received_at_ms=1_000) == 1_001
