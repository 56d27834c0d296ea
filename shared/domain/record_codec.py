"""The Kafka record for a score event: key = user id, value = compact JSON with a schema version."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import msgspec
import orjson

from shared.domain.events import (
    EVENT_ID_LENGTH,
    MAX_EPOCH_MS,
    MAX_ID_LENGTH,
    InvalidId,
    InvalidInput,
    ScoreEvent,
    canonical_id,
    is_plain_ascii_id,
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


class _IngestRecord(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    """A score record's fields with the types and bounds ingest writes, checked in C as it is parsed:
    the updater decodes every record, and checking a parsed dict in Python cost more than parsing it.
    No other field: a field it skipped could hold what the JSON parser refuses (a lone surrogate)."""

    v: int
    event_id: Annotated[str, msgspec.Meta(min_length=EVENT_ID_LENGTH, max_length=EVENT_ID_LENGTH)]
    match_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
    points: Annotated[int, msgspec.Meta(ge=1, le=MAX_RECORD_POINTS)]
    occurred_at: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS)]
    received_at: Annotated[int, msgspec.Meta(ge=0, le=MAX_EPOCH_MS)] | None = None


_decode_ingest_record = msgspec.json.Decoder(_IngestRecord).decode


def _as_ingest_wrote(value: bytes) -> ScoreEvent | None:
    """The event of a score record exactly as ingest writes them (those fields only, plain ASCII ids);
    None for anything else, valid or not, which the field-by-field checks then decide and explain."""
    try:
        record = _decode_ingest_record(value)
    except msgspec.MsgspecError:
        return None
    match_id, user_id = record.match_id, record.user_id
    if record.v == SCHEMA_VERSION and is_plain_ascii_id(match_id) and is_plain_ascii_id(user_id):
        return _new_score_event(
            (record.event_id, match_id, user_id, record.points, record.occurred_at, record.received_at)
        )
    return None


def decode_record(value: bytes | None) -> ScoreEvent:
    if value is not None:
        event = _as_ingest_wrote(value)
        if event is not None:
            return event
    return event_from_document(_document_of(value))


def decode_update(value: bytes | None) -> ScoreEvent | ModerationAction:
    """Any record of the score topic: a score event or a moderation action, or PoisonRecord."""
    if value is not None:
        event = _as_ingest_wrote(value)
        if event is not None:
            return event
    document = _document_of(value)
    return decode_moderation(document) if is_moderation(document) else event_from_document(document)


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
