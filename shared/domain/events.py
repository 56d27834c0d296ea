"""The score event: what game servers submit, and the validated form that travels through Kafka."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, NamedTuple, TypeGuard

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from shared.domain.boards import DAY_MS, Board, BoardSchedule, Window
from shared.domain.timestamps import NotRfc3339, rfc3339_to_epoch_ms

MAX_ID_LENGTH = 128
MAX_EVENTS_PER_BATCH = 500  # the contract's ceiling; a deployment may lower it (ScoreLimits)
MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class InvalidInput(ValueError):
    """Input a caller can fix; `field` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidId(ValueError):
    """A match or user id that breaks the id rule; the message says which part."""


_UNPRINTABLE_KINDS = {
    "Cf": "an invisible or format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than U+0020",
}


def canonical_id(value: object) -> str:
    """The id a match or user id stands for: its NFC form, once it passes the id rule (InvalidId otherwise).

    The rule: a string of 1..128 characters counted after NFC normalisation (so the composed and
    decomposed spellings of one name are the same id, and both are accepted), printable, not
    starting or ending with whitespace, with no invisible or format characters (Unicode Cf, Zl,
    Zp), and not starting with a combining mark, which would have no base to sit on.
    """
    if not isinstance(value, str):
        raise InvalidId("must be a string")
    if value.isascii():
        if is_plain_ascii_id(value):
            return value
    else:
        value = unicodedata.normalize("NFC", value)
    if not value:
        raise InvalidId("must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(f"must be at most {MAX_ID_LENGTH} characters (counted after NFC normalisation)")
    if value.isspace():
        raise InvalidId("must not be only whitespace")
    if value[0].isspace() or value[-1].isspace():
        raise InvalidId("must not start or end with whitespace")
    if not value.isprintable():
        culprit = next(character for character in value if not character.isprintable())
        kind = _UNPRINTABLE_KINDS.get(unicodedata.category(culprit), "a control or unprintable character")
        raise InvalidId(f"must not contain {kind} (U+{ord(culprit):04X})")
    if not value.isascii() and unicodedata.category(value[0]).startswith("M"):
        raise InvalidId(f"must not start with a combining mark (U+{ord(value[0]):04X})")
    return value


def is_plain_ascii_id(value: object) -> TypeGuard[str]:
    """The common case of the id rule, once per Kafka record in the updater: an ASCII string that
    passes it as it is (ASCII is already NFC and has no marks). False says only "not this case"."""
    return (
        type(value) is str
        and value.isascii()
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    )


Identifier = Annotated[
    str,
    Field(
        min_length=1,
        description="1..128 printable Unicode characters after NFC normalisation; no leading or trailing "
        "whitespace, no invisible or format characters, not starting with a combining mark",
    ),
    AfterValidator(canonical_id),
]


def timestamp_shape(value: object) -> object:
    """A timestamp field's type check, run before its `int | str` union: a wrong type is then reported
    under the field's own name (`occurred_at`), not one per member of the union (`occurred_at.int`)."""
    if value is not None and type(value) is not int and not isinstance(value, str):
        raise ValueError("must be epoch milliseconds (an integer) or an RFC 3339 timestamp (a string)")
    return value


class ScoreSubmission(BaseModel):
    """One match result as a game server posts it."""

    model_config = ConfigDict(extra="forbid", strict=True)

    match_id: Identifier
    user_id: Identifier
    points: StrictInt = Field(
        default=1, ge=1, description="Points won in this match: 1..MAX_POINTS_PER_EVENT (10 000 by default)"
    )
    occurred_at: Annotated[StrictInt | str | None, BeforeValidator(timestamp_shape)] = Field(
        default=None,
        description="When the match ended: epoch milliseconds or an RFC 3339 timestamp with an offset; defaults "
        "to now. At most MAX_FUTURE_SKEW_SECONDS (300) ahead. It counts on each enabled board still open to it "
        "when received: a day's, week's or month's board closes its LATE_EVENT_GRACE_<WINDOW>_SECONDS after the "
        "period ends (2 hours, 1 day, 3 days); the all-time board never closes but starts at 2020-01-01. An "
        "event that counts on no board is refused",
    )


class ScoreBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    scores: list[ScoreSubmission] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_BATCH,
        description="1..500 events; a deployment may lower the ceiling (MAX_EVENTS_PER_BATCH)",
    )


@dataclass(frozen=True, slots=True)
class ScoreLimits:
    """The configurable bounds on what ingest accepts (see shared.adapters.settings for the defaults)."""

    max_points_per_event: int
    max_future_skew_ms: int
    board_schedule: BoardSchedule  # a new event must count on at least one of its boards
    max_events_per_batch: int


class ScoreEvent(NamedTuple):
    """A validated score event; `(match_id, user_id)` identifies it.

    A NamedTuple rather than a frozen dataclass: the updater builds one per record, 10 000 a batch.
    """

    event_id: str
    match_id: str
    user_id: str
    points: int
    occurred_at_ms: int
    # When ingest received it: which boards were still open to it (see BoardSchedule). None: unknown
    # (a record from before the field existed), so no board is closed to it.
    received_at_ms: int | None = None

    @property
    def period(self) -> str:
        """The month of `occurred_at`, whether or not the monthly board is enabled."""
        return Window.MONTHLY.period_of(self.occurred_at_ms)

    def boards(self, schedule: BoardSchedule) -> list[Board]:
        """The boards the event counts on."""
        return schedule.boards_for(self.occurred_at_ms, self.received_at_ms)

    def periods(self, schedule: BoardSchedule) -> dict[str, str]:
        """Window -> period id of each board the event counts on."""
        return {board.window.value: board.period for board in self.boards(schedule)}


def count_by_window(events: Iterable[ScoreEvent], schedule: BoardSchedule) -> dict[str, int]:
    """Per enabled window, how many of the events count on one of its boards."""
    counts = dict.fromkeys((window.value for window in schedule.windows), 0)
    for event in events:
        for board in event.boards(schedule):
            counts[board.window.value] += 1
    return counts


EVENT_ID_LENGTH = 32


def event_id_for(match_id: str, user_id: str) -> str:
    digest = hashlib.blake2b(f"{match_id}\x00{user_id}".encode(), digest_size=EVENT_ID_LENGTH // 2)
    return digest.hexdigest()


def parse_occurred_at(value: int | str | None, *, field: str, received_at_ms: int) -> int:
    if value is None:
        return received_at_ms
    if isinstance(value, int):
        epoch_ms = value
    else:
        try:
            epoch_ms = rfc3339_to_epoch_ms(value)
        except NotRfc3339 as problem:
            raise InvalidInput(field, str(problem)) from None
    if not 0 <= epoch_ms <= MAX_EPOCH_MS:
        raise InvalidInput(field, "must be between 1970-01-01 and 9999-12-31 (UTC)")
    return epoch_ms


def counts_on_no_board(schedule: BoardSchedule, occurred_at_ms: int, received_at_ms: int | None) -> str | None:
    """Why an event received at `received_at_ms` counts on no enabled board; None when it counts on one.

    A board is final once its window's grace has passed: a late win must not reorder a board
    that players have already seen settled. An event that still counts on some board (the
    all-time one never closes) is accepted and left off the closed ones.
    """
    if schedule.boards_for(occurred_at_ms, received_at_ms):
        return None
    reasons: list[str] = []
    for window in schedule.windows:
        try:
            board = window.board_at(occurred_at_ms)
        except ValueError as outside:
            reasons.append(str(outside))
            continue
        grace_ms = schedule.grace_of(window)
        after = f"{_duration(grace_ms)} after it ended" if grace_ms else "when it ended"
        reasons.append(f"{window} {board.period} closed to late events {after}")
    return f"counts on no open board: {'; '.join(reasons)}"


def _duration(ms: int) -> str:
    for unit_ms, unit in ((DAY_MS, "day"), (3_600_000, "hour"), (60_000, "minute"), (1000, "second")):
        if ms % unit_ms == 0:
            count = ms // unit_ms
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{ms} ms"


def batch_field_prefix(index: int) -> str:
    """How a field of the batch's event at `index` is named in a refusal (scores.3.points)."""
    return f"scores.{index}."


def to_score_event(
    submission: ScoreSubmission,
    limits: ScoreLimits,
    *,
    received_at_ms: int,
    field_prefix: str = "",
    refuse_late: bool = False,
) -> ScoreEvent:
    """The event, or InvalidInput. An event that counts on no board is refused only when `refuse_late` asks:
    ingest decides it, since a retry counts on the boards of its first try (shared.application.ingest)."""
    if submission.points > limits.max_points_per_event:
        raise InvalidInput(f"{field_prefix}points", f"must be at most {limits.max_points_per_event}")
    occurred_field = f"{field_prefix}occurred_at"
    occurred_at_ms = parse_occurred_at(submission.occurred_at, field=occurred_field, received_at_ms=received_at_ms)
    if occurred_at_ms > received_at_ms + limits.max_future_skew_ms:
        raise InvalidInput(occurred_field, f"is more than {limits.max_future_skew_ms // 1000} seconds in the future")
    if refuse_late and (late := counts_on_no_board(limits.board_schedule, occurred_at_ms, received_at_ms)):
        raise InvalidInput(occurred_field, late)
    return ScoreEvent(
        event_id=event_id_for(submission.match_id, submission.user_id),
        match_id=submission.match_id,
        user_id=submission.user_id,
        points=submission.points,
        occurred_at_ms=occurred_at_ms,
        received_at_ms=received_at_ms,
    )


def to_score_events(
    batch: ScoreBatch, limits: ScoreLimits, *, received_at_ms: int, refuse_late: bool = False
) -> list[ScoreEvent]:
    """Every event of a batch, or InvalidInput for the first bad one: a batch is accepted whole or not at all."""
    if len(batch.scores) > limits.max_events_per_batch:
        raise InvalidInput("scores", f"must hold at most {limits.max_events_per_batch} events")
    return [
        to_score_event(
            submission,
            limits,
            received_at_ms=received_at_ms,
            field_prefix=batch_field_prefix(index),
            refuse_late=refuse_late,
        )
        for index, submission in enumerate(batch.scores)
    ]
