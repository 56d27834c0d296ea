"""The score event: what game servers submit, and the validated form that travels through Kafka."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from shared.periods import now_ms, period_of

MAX_ID_LENGTH = 128
MAX_EVENTS_PER_BATCH = 500
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class InvalidInput(ValueError):
    """Input a caller can fix; `field` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def id_problem(value: object) -> str | None:
    """Why `value` is not an acceptable match or user id, or None when it is."""
    if not isinstance(value, str):
        return "must be a string"
    if not value:
        return "must not be empty"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    if not value.isprintable():
        return "must contain only printable characters (no control characters)"
    return None


def _printable_id(value: str) -> str:
    problem = id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=MAX_ID_LENGTH, description="Printable Unicode, 1..128 characters"),
    AfterValidator(_printable_id),
]


class ScoreSubmission(BaseModel):
    """One match result as a game server posts it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    match_id: Identifier
    user_id: Identifier
    points: StrictInt = Field(default=1, ge=1, description="Points won in this match")
    occurred_at: StrictInt | str | None = Field(
        default=None,
        description="When the match ended: epoch milliseconds or an RFC 3339 timestamp; defaults to now",
    )


class ScoreBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    scores: list[ScoreSubmission] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


@dataclass(frozen=True, slots=True)
class ScoreLimits:
    max_points_per_event: int
    max_future_skew_ms: int


@dataclass(frozen=True, slots=True)
class ScoreEvent:
    """A validated score event; `(match_id, user_id)` identifies it."""

    event_id: str
    match_id: str
    user_id: str
    points: int
    occurred_at_ms: int

    @property
    def period(self) -> str:
        return period_of(self.occurred_at_ms)


def event_id_for(match_id: str, user_id: str) -> str:
    digest = hashlib.blake2b(f"{match_id}\x00{user_id}".encode(), digest_size=16)
    return digest.hexdigest()


def parse_occurred_at(value: int | str | None, *, field: str, received_at_ms: int) -> int:
    if value is None:
        return received_at_ms
    if isinstance(value, int):
        if not 0 <= value <= MAX_EPOCH_MS:
            raise InvalidInput(field, "epoch milliseconds out of range")
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(field, "must be epoch milliseconds or an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise InvalidInput(field, "RFC 3339 timestamp needs a UTC offset, e.g. 'Z' or '+02:00'")
    return int(moment.timestamp() * 1000)


def to_score_event(
    submission: ScoreSubmission,
    limits: ScoreLimits,
    *,
    field_prefix: str = "",
    received_at_ms: int | None = None,
) -> ScoreEvent:
    received_at_ms = now_ms() if received_at_ms is None else received_at_ms
    if submission.points > limits.max_points_per_event:
        raise InvalidInput(f"{field_prefix}points", f"must be at most {limits.max_points_per_event}")
    occurred_field = f"{field_prefix}occurred_at"
    occurred_at_ms = parse_occurred_at(submission.occurred_at, field=occurred_field, received_at_ms=received_at_ms)
    if occurred_at_ms > received_at_ms + limits.max_future_skew_ms:
        raise InvalidInput(occurred_field, f"is more than {limits.max_future_skew_ms // 1000} seconds in the future")
    return ScoreEvent(
        event_id=event_id_for(submission.match_id, submission.user_id),
        match_id=submission.match_id,
        user_id=submission.user_id,
        points=submission.points,
        occurred_at_ms=occurred_at_ms,
    )
