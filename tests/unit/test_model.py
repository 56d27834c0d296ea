import pytest
from pydantic import ValidationError

from shared.domain.boards import BoardSchedule, parse_windows
from shared.domain.events import (
    InvalidInput,
    ScoreBatch,
    ScoreLimits,
    ScoreSubmission,
    count_by_window,
    event_id_for,
    to_score_event,
)

SCHEDULE = BoardSchedule(parse_windows())  # every window, each with its default grace
LIMITS = ScoreLimits(
    max_points_per_event=10_000,
    max_future_skew_ms=300_000,
    board_schedule=SCHEDULE,
    max_events_per_batch=500,
)
NOW = 1_793_880_000_000  # 2026-11-05T12:00:00Z, a Thursday


def submission(**fields: object) -> ScoreSubmission:
    return ScoreSubmission.model_validate({"match_id": "m1", "user_id": "u1", **fields})


def test_defaults_one_point_now() -> None:
    event = to_score_event(submission(), LIMITS, received_at_ms=NOW)
    assert (event.points, event.occurred_at_ms, event.period) == (1, NOW, "2026-11")
    assert event.event_id == event_id_for("m1", "u1")


def test_an_event_received_at_once_counts_on_the_board_of_every_window() -> None:
    event = to_score_event(submission(), LIMITS, received_at_ms=NOW)
    assert event.periods(SCHEDULE) == {
        "daily": "2026-11-05",
        "weekly": "2026-W45",
        "monthly": "2026-11",
        "alltime": "all",
    }


def test_only_enabled_windows_have_periods() -> None:
    event = to_score_event(submission(), LIMITS, received_at_ms=NOW)
    assert event.periods(BoardSchedule(parse_windows("weekly,alltime"))) == {"weekly": "2026-W45", "alltime": "all"}
    assert event.periods(BoardSchedule(parse_windows("monthly"))) == {"monthly": "2026-11"}


def test_a_record_without_received_at_counts_on_every_board_of_its_time() -> None:
    """A record without received_at (from before the field existed): no board is closed to it."""
    event = to_score_event(submission(), LIMITS, received_at_ms=NOW)._replace(received_at_ms=None)
    assert set(event.periods(SCHEDULE)) == {"daily", "weekly", "monthly", "alltime"}


def test_counts_by_window_list_every_enabled_window() -> None:
    on_time = to_score_event(submission(), LIMITS, received_at_ms=NOW)
    two_days_late = to_score_event(submission(match_id="m2"), LIMITS, received_at_ms=NOW)._replace(
        received_at_ms=NOW + 2 * 86_400_000
    )
    assert count_by_window([on_time, two_days_late], SCHEDULE) == {"daily": 1, "weekly": 2, "monthly": 2, "alltime": 2}
    assert count_by_window([], BoardSchedule(parse_windows("daily,monthly"))) == {"daily": 0, "monthly": 0}


def test_rfc3339_and_epoch_ms_agree() -> None:
    a = to_score_event(submission(occurred_at="2026-11-05T12:00:00Z"), LIMITS, received_at_ms=NOW)
    b = to_score_event(submission(occurred_at="2026-11-05T13:00:00+01:00"), LIMITS, received_at_ms=NOW)
    c = to_score_event(submission(occurred_at=NOW), LIMITS, received_at_ms=NOW)
    assert a.occurred_at_ms == b.occurred_at_ms == c.occurred_at_ms == NOW


def test_event_id_depends_on_match_and_user_only() -> None:
    assert event_id_for("m1", "u1") == event_id_for("m1", "u1")
    assert event_id_for("m1", "u1") != event_id_for("m1u", "1")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"match_id": ""}, "match_id"),
        ({"user_id": "x" * 129}, "user_id"),
        ({"user_id": "bad\nid"}, "user_id"),
        ({"user_id": "nul\x00"}, "user_id"),
        ({"user_id": 42}, "user_id"),
        ({"points": 0}, "points"),
        ({"points": "5"}, "points"),
        ({"points": 2.5}, "points"),
        ({"points": True}, "points"),
        ({"extra": 1}, "extra"),
    ],
)
def test_shape_errors_name_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        submission(**fields)
    assert field in {str(error["loc"][0]) for error in caught.value.errors()}


def test_unicode_ids_are_fine() -> None:
    assert submission(user_id="プレイヤー 🎮").user_id == "プレイヤー 🎮"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"points": 10_001}, "points"),
        ({"occurred_at": NOW + 301_000}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-05T12:00:00"}, "occurred_at"),
        ({"occurred_at": -1}, "occurred_at"),
    ],
)
def test_limit_errors_name_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        to_score_event(submission(**fields), LIMITS, received_at_ms=NOW, field_prefix="scores.3.")
    assert caught.value.field == f"scores.3.{field}"


@pytest.mark.parametrize("count", [0, 501])
def test_batch_size_is_bounded(count: int) -> None:
    with pytest.raises(ValidationError):
        ScoreBatch.model_validate({"scores": [{"match_id": f"m{i}", "user_id": "u"} for i in range(count)]})
