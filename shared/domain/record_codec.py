"""The Kafka record for a score event: key = user id, value = compact JSON with a schema version."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from shared.domain.events import (
    EVENT_ID_LENGTH,
    MAX_EPOCH_MS,
    MAX_ID_LENGTH,
    InvalidId,
    InvalidInput,
    ScoreEvent,
    canonical_id,
)
from shared.domain.moderation import (
    MAX_ACTOR_LENGTH,
    ModerationAction,
    ModerationKind,
    checked_reason,
)
from shared.domain.score_codec import SECONDS

SCHEMA_VERSION = 1
# A moderation record says so; a score record has no "type" (records from before moderation existed).
MODERATION_TYPE = "moderation"
# More points than any board can hold (the calendar windows' codec holds the most) cannot be applied.
MAX_RECORD_POINTS = SECONDS.max_points


# A ScoreEvent from its fields in order, without the Python-level __new__ of a NamedTuple: the
# updater decodes one per record.
_new_score_event = partial(tuple.__new__, ScoreEvent)


class PoisonRecord(ValueError):
    """A record that can never be applied, however often it is retried."""


def record_key(event: ScoreEvent) -> bytes:
    return event.user_id.encode()


def encode_record(event: ScoreEvent) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "event_id": event.event_id,
            "match_id": event.match_id,
            "user_id": event.user_id,
            "points": event.points,
            "occurred_at": event.occurred_at_ms,
            "received_at": event.received_at_ms,
        }
    )


def record_key_for_action(action: ModerationAction) -> bytes:
    return action.user_id.encode()


def encode_moderation(action: ModerationAction) -> bytes:
    return orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "type": MODERATION_TYPE,
            "action_id": action.action_id,
            "user_id": action.user_id,
            "action": action.kind.value,
            "reason": action.reason,
            "actor": action.actor,
            "received_at": action.received_at_ms,
            "until": action.until_ms,
            "window": action.window,
            "period": action.period,
        }
    )


def is_moderation(document: dict[str, Any]) -> bool:
    return document.get("type") == MODERATION_TYPE


def _optional_text(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is not None and (type(value) is not str or not value or len(value) > MAX_ACTOR_LENGTH):
        raise PoisonRecord(f"field {name!r} must be a string of 1..{MAX_ACTOR_LENGTH} characters or null")
    return value


def decode_moderation(document: dict[str, Any]) -> ModerationAction:
    """A moderation record's value, already parsed as JSON (see is_moderation), or PoisonRecord."""
    version = document.get("v")
    if version != SCHEMA_VERSION:
        raise PoisonRecord(f"unsupported schema version {version!r} (this updater reads {SCHEMA_VERSION})")
    action_id = document.get("action_id")
    if type(action_id) is not str or len(action_id) != EVENT_ID_LENGTH:
        raise PoisonRecord(f"field 'action_id' must be {EVENT_ID_LENGTH} hex characters")
    try:
        kind = ModerationKind(str(document.get("action")))
    except ValueError:
        raise PoisonRecord(f"field 'action' must be one of {[kind.value for kind in ModerationKind]}") from None
    try:
        reason = checked_reason(document.get("reason"))
    except InvalidInput as problem:
        raise PoisonRecord(f"field {problem}") from None
    actor = _optional_text(document, "actor")
    if actor is None:
        raise PoisonRecord("field 'actor' must name who acted")
    received_at_ms = _int_field(document, "received_at", 0, MAX_EPOCH_MS)
    until_ms = None if document.get("until") is None else _int_field(document, "until", 0, MAX_EPOCH_MS)
    window, period = _optional_text(document, "window"), _optional_text(document, "period")
    if kind is ModerationKind.RESET and (window is None or period is None):
        raise PoisonRecord("a reset names its board: fields 'window' and 'period'")
    return ModerationAction(
        action_id=action_id,
        user_id=_id_field(document, "user_id"),
        kind=kind,
        reason=reason,
        actor=actor,
        received_at_ms=received_at_ms,
        until_ms=until_ms if kind is ModerationKind.BAN else None,
        window=window if kind is ModerationKind.RESET else None,
        period=period if kind is ModerationKind.RESET else None,
    )


def _int_field(document: dict[str, Any], name: str, low: int, high: int) -> int:
    value = document.get(name)
    if type(value) is not int or not low <= value <= high:
        raise PoisonRecord(f"field {name!r} must be an integer within {low}..{high}, got {value!r}")
    return value


def _id_field(document: dict[str, Any], name: str) -> str:
    try:
        return canonical_id(document.get(name))
    except InvalidId as problem:
        raise PoisonRecord(f"field {name!r} {problem}") from None


def decode_record(value: bytes | None) -> ScoreEvent:
    return _score_from(_document_of(value))


def decode_update(value: bytes | None) -> ScoreEvent | ModerationAction:
    """Any record of the score topic: a score event or a moderation action, or PoisonRecord."""
    # _document_of and is_moderation written out: the updater decodes every record through here.
    if value is None:
        raise PoisonRecord("record has no value")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise PoisonRecord(f"value is not JSON: {error}") from None
    if type(document) is not dict:
        raise PoisonRecord("value is not a JSON object")
    return decode_moderation(document) if document.get("type") == MODERATION_TYPE else _score_from(document)


def _document_of(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise PoisonRecord("record has no value")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise PoisonRecord(f"value is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PoisonRecord("value is not a JSON object")
    return document


def _score_from(document: dict[str, Any]) -> ScoreEvent:
    # The records ingest writes, checked inline: the updater decodes each one, and the calls of the
    # field checks below cost more than orjson does. Anything else is checked field by field, to name
    # what is wrong.
    get = document.get
    event_id, match_id, user_id = get("event_id"), get("match_id"), get("user_id")
    points, occurred_at, received_at = get("points"), get("occurred_at"), get("received_at")
    if (
        get("v") == SCHEMA_VERSION
        and type(event_id) is str
        and len(event_id) == EVENT_ID_LENGTH
        # is_plain_ascii_id, for both ids, written out
        and type(match_id) is str
        and match_id.isascii()
        and 0 < len(match_id) <= MAX_ID_LENGTH
        and match_id.isprintable()
        and match_id[0] != " "
        and match_id[-1] != " "
        and type(user_id) is str
        and user_id.isascii()
        and 0 < len(user_id) <= MAX_ID_LENGTH
        and user_id.isprintable()
        and user_id[0] != " "
        and user_id[-1] != " "
        and type(points) is int
        and 1 <= points <= MAX_RECORD_POINTS
        and type(occurred_at) is int
        and 0 <= occurred_at <= MAX_EPOCH_MS
        and (received_at is None or (type(received_at) is int and 0 <= received_at <= MAX_EPOCH_MS))
    ):
        return _new_score_event((event_id, match_id, user_id, points, occurred_at, received_at))
    return event_from_document(document)


def event_from_document(document: dict[str, Any]) -> ScoreEvent:
    """The event a record's JSON object holds, checked field by field: PoisonRecord names the first problem."""
    version = document.get("v")
    if version != SCHEMA_VERSION:
        raise PoisonRecord(f"unsupported schema version {version!r} (this updater reads {SCHEMA_VERSION})")
    event_id = document.get("event_id")
    # Its shape only: the updater never uses it, and rehashing every record would cost more than applying it.
    if type(event_id) is not str or len(event_id) != EVENT_ID_LENGTH:
        raise PoisonRecord(f"field 'event_id' must be {EVENT_ID_LENGTH} hex characters")
    match_id = _id_field(document, "match_id")
    user_id = _id_field(document, "user_id")
    return ScoreEvent(
        event_id=event_id,
        match_id=match_id,
        user_id=user_id,
        points=_int_field(document, "points", 1, MAX_RECORD_POINTS),
        occurred_at_ms=_int_field(document, "occurred_at", 0, MAX_EPOCH_MS),
        received_at_ms=None
        if document.get("received_at") is None
        else _int_field(document, "received_at", 0, MAX_EPOCH_MS),
    )
