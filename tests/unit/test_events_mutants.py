"""shared/domain/events.py where `make mutation` found it untested: the bounds themselves (the largest
id, points, batch and instant are accepted), how a grace is worded, and the exact words of refusals."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.domain.boards import DAY_MS, BoardSchedule, Window
from shared.domain.events import (
    MAX_EPOCH_MS,
    MAX_ID_LENGTH,
    InvalidId,
    InvalidInput,
    ScoreBatch,
    ScoreLimits,
    ScoreSubmission,
    canonical_id,
    counts_on_no_board,
    parse_occurred_at,
    to_score_event,
    to_score_events,
)
from shared.domain.timestamps import rfc3339_to_epoch_ms

RECEIVED = rfc3339_to_epoch_ms("2026-06-10T12:00:00Z")
LIMITS = ScoreLimits(
    max_points_per_event=100,
    max_future_skew_ms=300_000,
    board_schedule=BoardSchedule(tuple(Window)),
    max_events_per_batch=3,
)


def submission(**fields: object) -> ScoreSubmission:
    return ScoreSubmission.model_validate({"match_id": "m", "user_id": "u"} | fields)


def test_an_id_of_one_character_and_one_of_the_longest_are_ids() -> None:
    assert canonical_id("a") == "a"
    assert canonical_id("a" * MAX_ID_LENGTH) == "a" * MAX_ID_LENGTH
    with pytest.raises(InvalidId) as not_text:
        canonical_id(7)
    assert str(not_text.value) == "must be a string"
    with pytest.raises(InvalidId) as empty:
        canonical_id("")
    assert str(empty.value) == "must not be empty"


def test_occurred_at_takes_every_instant_from_the_epoch_to_the_end_of_9999() -> None:
    assert parse_occurred_at(0, field="f", received_at_ms=RECEIVED) == 0
    assert parse_occurred_at(MAX_EPOCH_MS, field="f", received_at_ms=RECEIVED) == MAX_EPOCH_MS
    with pytest.raises(InvalidInput) as beyond:
        parse_occurred_at(MAX_EPOCH_MS + 1, field="f", received_at_ms=RECEIVED)
    assert (beyond.value.field, beyond.value.message) == ("f", "must be between 1970-01-01 and 9999-12-31 (UTC)")


def test_an_event_keeps_its_ids_and_takes_the_largest_points_allowed() -> None:
    event = to_score_event(submission(points=100), LIMITS, received_at_ms=RECEIVED)
    assert (event.match_id, event.user_id, event.points) == ("m", "u", 100)
    with pytest.raises(InvalidInput) as too_many:
        to_score_event(submission(points=101), LIMITS, received_at_ms=RECEIVED, field_prefix="scores.2.")
    assert (too_many.value.field, too_many.value.message) == ("scores.2.points", "must be at most 100")


def test_an_event_from_the_future_is_refused_naming_the_skew_in_seconds() -> None:
    with pytest.raises(InvalidInput) as future:
        to_score_event(submission(occurred_at=RECEIVED + 300_001), LIMITS, received_at_ms=RECEIVED)
    assert future.value.message == "is more than 300 seconds in the future"


def test_a_batch_may_hold_exactly_the_most_events_allowed() -> None:
    batch = ScoreBatch.model_validate({"scores": [{"match_id": f"m{n}", "user_id": "u"} for n in range(3)]})
    assert len(to_score_events(batch, LIMITS, received_at_ms=RECEIVED)) == 3


def test_a_refusal_for_closed_boards_names_each_grace_in_its_largest_whole_unit() -> None:
    schedule = BoardSchedule(
        (Window.DAILY, Window.WEEKLY, Window.MONTHLY),
        grace_ms={Window.DAILY: 60_000, Window.WEEKLY: 1000, Window.MONTHLY: 90_000},
    )
    occurred = rfc3339_to_epoch_ms("2026-05-01T12:00:00Z")
    reason = counts_on_no_board(schedule, occurred, occurred + 40 * DAY_MS)
    assert reason == (
        "counts on no open board: daily 2026-05-01 closed to late events 1 minute after it ended; "
        "weekly 2026-W18 closed to late events 1 second after it ended; "
        "monthly 2026-05 closed to late events 90 seconds after it ended"
    )


def test_a_refusal_goes_on_past_a_window_whose_range_does_not_hold_the_event() -> None:
    schedule = BoardSchedule((Window.ALLTIME, Window.DAILY), grace_ms={Window.DAILY: 0})
    reason = counts_on_no_board(schedule, 0, 10 * DAY_MS)
    assert reason is not None
    assert reason.endswith("; daily 1970-01-01 closed to late events when it ended")


def test_an_id_of_only_whitespace_or_padded_with_it_is_refused_saying_which() -> None:
    with pytest.raises(InvalidId) as blank:
        canonical_id("   ")
    assert str(blank.value) == "must not be only whitespace"
    with pytest.raises(InvalidId) as padded:
        canonical_id(" a")
    assert str(padded.value) == "must not start or end with whitespace"


def test_an_occurred_at_of_another_type_is_refused_saying_what_it_may_be() -> None:
    with pytest.raises(ValidationError) as refused:
        submission(occurred_at=1.5)
    message = "Value error, must be epoch milliseconds (an integer) or an RFC 3339 timestamp (a string)"
    assert [error["msg"] for error in refused.value.errors()] == [message]
