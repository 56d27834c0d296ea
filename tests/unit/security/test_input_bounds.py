"""Ingest's configurable bounds, at their edges, in the domain core (no I/O)."""

from __future__ import annotations

import pytest

from shared.adapters.settings import Settings
from shared.domain.boards import ALLTIME_LAST_MS, ALLTIME_ORIGIN_MS, DAY_MS, Window
from shared.domain.events import (
    InvalidInput,
    ScoreBatch,
    ScoreLimits,
    ScoreSubmission,
    to_score_event,
    to_score_events,
)
from shared.domain.timestamps import rfc3339_to_epoch_ms

pytestmark = pytest.mark.security

LIMITS = Settings().score_limits()
HOUR_MS = 3_600_000
GRACE_MS = {Window.DAILY: 2 * HOUR_MS, Window.WEEKLY: DAY_MS, Window.MONTHLY: 3 * DAY_MS}


def end_of_month(period: str) -> int:
    """The first instant after the month."""
    end = Window.MONTHLY.parse_period(period).end_ms
    assert end is not None
    return end


OCTOBER_END = end_of_month("2026-10")  # 2026-11-01T00:00Z, a Sunday
# 2026-05-31 is a Sunday: its day, its ISO week (2026-W22) and its month all end at MAY_END.
MAY_END = end_of_month("2026-05")
EVERY_WINDOW = {"daily", "weekly", "monthly", "alltime"}


def submission(**fields: object) -> ScoreSubmission:
    return ScoreSubmission.model_validate({"match_id": "m1", "user_id": "u1", **fields})


def limits_from(**env: str) -> ScoreLimits:
    return Settings.from_env(env).score_limits()


def periods(occurred_at: object, received_at_ms: int, limits: ScoreLimits = LIMITS) -> dict[str, str]:
    event = to_score_event(submission(occurred_at=occurred_at), limits, received_at_ms=received_at_ms)
    return event.periods(limits.board_schedule)


def refusal(fields: dict[str, object], received_at_ms: int, limits: ScoreLimits = LIMITS) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        to_score_event(submission(**fields), limits, received_at_ms=received_at_ms, refuse_late=True)
    return caught.value


def refused_field(fields: dict[str, object], received_at_ms: int) -> str:
    return refusal(fields, received_at_ms).field


def test_the_defaults_are_the_documented_ones() -> None:
    assert (LIMITS.max_points_per_event, LIMITS.max_future_skew_ms, LIMITS.max_events_per_batch) == (
        10_000,
        300_000,
        500,
    )
    schedule = LIMITS.board_schedule
    assert schedule.windows == tuple(Window)
    assert {window: schedule.grace_of(window) for window in GRACE_MS} == GRACE_MS


# --- late events: each window closes on its own ---------------------------------------------------


@pytest.mark.parametrize(
    ("received_after_the_end_ms", "windows"),
    [
        (0, EVERY_WINDOW),
        (2 * HOUR_MS - 1, EVERY_WINDOW),
        (2 * HOUR_MS, {"weekly", "monthly", "alltime"}),
        (DAY_MS - 1, {"weekly", "monthly", "alltime"}),
        (DAY_MS, {"monthly", "alltime"}),
        (3 * DAY_MS - 1, {"monthly", "alltime"}),
        (3 * DAY_MS, {"alltime"}),
        (400 * DAY_MS, {"alltime"}),
    ],
)
def test_each_window_takes_late_events_until_its_own_grace_after_its_period_ends(
    received_after_the_end_ms: int, windows: set[str]
) -> None:
    counted = periods(MAY_END - 1, MAY_END + received_after_the_end_ms)
    assert set(counted) == windows
    assert {"daily": "2026-05-31", "weekly": "2026-W22", "monthly": "2026-05", "alltime": "all"}.items() >= (
        counted.items()
    )


def test_a_match_two_days_late_counts_on_weekly_monthly_and_alltime_but_not_daily() -> None:
    friday_noon = rfc3339_to_epoch_ms("2026-10-30T12:00:00Z")
    assert periods(friday_noon, friday_noon + 2 * DAY_MS) == {
        "weekly": "2026-W44",
        "monthly": "2026-10",
        "alltime": "all",
    }


def test_late_for_every_enabled_board_is_refused_naming_each_closed_period_and_its_grace() -> None:
    calendar_only = limits_from(LEADERBOARD_WINDOWS="daily,weekly,monthly")
    assert periods(MAY_END - 1, MAY_END + 3 * DAY_MS - 1, calendar_only) == {"monthly": "2026-05"}
    refused = refusal({"occurred_at": MAY_END - 1}, MAY_END + 3 * DAY_MS, calendar_only)
    assert refused.field == "occurred_at"
    for closed in (
        "daily 2026-05-31 closed to late events 2 hours after it ended",
        "weekly 2026-W22 closed to late events 1 day after it ended",
        "monthly 2026-05 closed to late events 3 days after it ended",
    ):
        assert closed in refused.message


def test_with_only_the_monthly_board_a_month_takes_late_events_for_its_grace_as_before_windows() -> None:
    monthly = limits_from(LEADERBOARD_WINDOWS="monthly")
    last_second_of_october = OCTOBER_END - 1000
    received = OCTOBER_END + GRACE_MS[Window.MONTHLY] - 1
    assert periods(last_second_of_october, received, monthly) == {"monthly": "2026-10"}
    refused = refusal({"occurred_at": last_second_of_october}, received + 1, monthly)
    assert refused.field == "occurred_at" and "monthly 2026-10" in refused.message


def test_the_refusal_names_the_closed_month() -> None:
    with pytest.raises(InvalidInput, match="2026-09"):
        to_score_event(
            submission(occurred_at="2026-09-15T10:00:00Z"),
            limits_from(LEADERBOARD_WINDOWS="monthly"),
            received_at_ms=OCTOBER_END,
            refuse_late=True,
        )


def test_unless_asked_to_refuse_a_late_event_validation_leaves_it_to_ingest() -> None:
    # Ingest accepts it when it retries a first try that counted (shared.application.ingest).
    monthly = limits_from(LEADERBOARD_WINDOWS="monthly")
    late = to_score_event(submission(occurred_at="2026-09-15T10:00:00Z"), monthly, received_at_ms=OCTOBER_END)
    assert late.periods(monthly.board_schedule) == {}


def test_zero_grace_closes_each_calendar_board_when_it_ends() -> None:
    strict = limits_from(LATE_EVENT_GRACE_SECONDS="0")
    # Saturday 2026-10-31: its day and month ended at OCTOBER_END, its week (2026-W44) ends on Monday.
    assert periods(OCTOBER_END - 1, OCTOBER_END, strict) == {"weekly": "2026-W44", "alltime": "all"}
    assert set(periods(OCTOBER_END, OCTOBER_END, strict)) == EVERY_WINDOW
    refused = refusal(
        {"occurred_at": OCTOBER_END - 1},
        OCTOBER_END,
        limits_from(LATE_EVENT_GRACE_SECONDS="0", LEADERBOARD_WINDOWS="daily,monthly"),
    )
    assert "daily 2026-10-31 closed to late events when it ended" in refused.message


def test_the_alltime_board_never_closes_but_holds_only_2020_to_2083() -> None:
    alltime = limits_from(LEADERBOARD_WINDOWS="alltime")
    assert periods(ALLTIME_ORIGIN_MS, ALLTIME_ORIGIN_MS + 10_000 * DAY_MS, alltime) == {"alltime": "all"}
    assert periods(ALLTIME_LAST_MS, ALLTIME_LAST_MS, alltime) == {"alltime": "all"}
    for outside in (ALLTIME_ORIGIN_MS - 1, ALLTIME_LAST_MS + 1):
        refused = refusal({"occurred_at": outside}, outside, alltime)
        assert refused.field == "occurred_at"
        assert "2020-01-01T00:00:00.000Z to 2083-10-18T16:31:59.999Z" in refused.message


def test_an_event_before_2020_counts_on_the_calendar_boards_still_open_but_not_alltime() -> None:
    just_before = ALLTIME_ORIGIN_MS - 1
    assert periods(just_before, just_before) == {"daily": "2019-12-31", "weekly": "2020-W01", "monthly": "2019-12"}


def test_an_event_from_before_2020_and_long_closed_is_refused_naming_its_periods_and_the_alltime_range() -> None:
    refused = refusal({"occurred_at": "2019-06-15T10:00:00Z"}, OCTOBER_END)
    assert refused.field == "occurred_at"
    for named in ("daily 2019-06-15", "weekly 2019-W24", "monthly 2019-06", "the alltime board holds instants from"):
        assert named in refused.message


def test_future_skew_edge() -> None:
    now = OCTOBER_END + 86_400_000
    assert to_score_event(submission(occurred_at=now + 300_000), LIMITS, received_at_ms=now).occurred_at_ms
    assert refused_field({"occurred_at": now + 300_001}, now) == "occurred_at"


@pytest.mark.parametrize(
    "occurred_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z", -1]
)
def test_instants_outside_the_epoch_range_are_refused_not_crashed_on(occurred_at: object) -> None:
    assert refused_field({"occurred_at": occurred_at}, OCTOBER_END) == "occurred_at"


def test_points_over_the_configured_maximum_name_points() -> None:
    small = limits_from(MAX_POINTS_PER_EVENT="5")
    with pytest.raises(InvalidInput) as caught:
        to_score_event(submission(points=6), small, received_at_ms=OCTOBER_END)
    assert caught.value.field == "points"


def test_a_batch_over_the_configured_size_names_scores() -> None:
    limits = limits_from(MAX_EVENTS_PER_BATCH="3")
    batch = ScoreBatch.model_validate({"scores": [{"match_id": f"m{i}", "user_id": "u"} for i in range(4)]})
    with pytest.raises(InvalidInput) as caught:
        to_score_events(batch, limits, received_at_ms=OCTOBER_END)
    assert caught.value.field == "scores"
    assert len(to_score_events(batch, LIMITS, received_at_ms=OCTOBER_END)) == 4


def test_the_first_bad_event_of_a_batch_is_named_by_its_index() -> None:
    batch = ScoreBatch.model_validate(
        {"scores": [{"match_id": "a", "user_id": "u"}, {"match_id": "b", "user_id": "u", "occurred_at": 0}]}
    )
    with pytest.raises(InvalidInput) as caught:
        to_score_events(batch, LIMITS, received_at_ms=OCTOBER_END, refuse_late=True)
    assert caught.value.field == "scores.1.occurred_at"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_EVENTS_PER_BATCH", "501"),
        ("MAX_EVENTS_PER_BATCH", "0"),
        ("MAX_POINTS_PER_EVENT", "0"),
        ("MAX_POINTS_PER_EVENT", str(2**31)),
        ("LATE_EVENT_GRACE_SECONDS", "-1"),
        ("MAX_FUTURE_SKEW_SECONDS", "-5"),
        ("LATE_EVENT_GRACE_SECONDS", "3 days"),
        ("LATE_EVENT_GRACE_DAILY_SECONDS", "-1"),
        ("LATE_EVENT_GRACE_WEEKLY_SECONDS", "1 day"),
        ("LATE_EVENT_GRACE_MONTHLY_SECONDS", "-86400"),
        ("LEADERBOARD_WINDOWS", "hourly"),
        ("LEADERBOARD_WINDOWS", "daily,,weekly"),
        ("LEADERBOARD_WINDOWS", "monthly,monthly"),
        ("LEADERBOARD_WINDOWS", "Monthly"),
    ],
)
def test_settings_out_of_bounds_fail_at_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


def test_a_bad_window_list_says_which_entry_and_which_windows_exist() -> None:
    with pytest.raises(ValueError) as refused:
        Settings.from_env({"LEADERBOARD_WINDOWS": "daily,hourly"})
    assert str(refused.value) == (
        "environment variable LEADERBOARD_WINDOWS names an unknown window 'hourly'; "
        "known: daily, weekly, monthly, alltime"
    )


def test_an_unset_or_blank_window_list_enables_every_window() -> None:
    assert Settings.from_env({}).windows == Settings.from_env({"LEADERBOARD_WINDOWS": " "}).windows == tuple(Window)


def test_each_window_has_its_own_grace_and_late_event_grace_seconds_is_their_fallback() -> None:
    def grace(**env: str) -> dict[Window, int]:
        return dict(Settings.from_env(env).late_event_grace_ms_by_window)

    assert grace() == GRACE_MS
    assert grace(LATE_EVENT_GRACE_SECONDS="600") == dict.fromkeys(GRACE_MS, 600_000)
    assert grace(LATE_EVENT_GRACE_SECONDS="600", LATE_EVENT_GRACE_WEEKLY_SECONDS="0") == {
        Window.DAILY: 600_000,
        Window.WEEKLY: 0,
        Window.MONTHLY: 600_000,
    }
    # The template passes an empty value for a window left to the fallback.
    assert grace(LATE_EVENT_GRACE_SECONDS="259200", LATE_EVENT_GRACE_MONTHLY_SECONDS="") == dict.fromkeys(
        GRACE_MS, 259_200_000
    )
    assert grace(LATE_EVENT_GRACE_DAILY_SECONDS="60")[Window.DAILY] == 60_000


@pytest.mark.parametrize(
    ("windows", "largest"),
    [
        ("daily,weekly,monthly,alltime", 268_435_455),
        ("alltime", 268_435_455),
        ("daily,weekly,monthly", 2_147_483_647),
        ("weekly", 2_147_483_647),
    ],
)
def test_one_event_may_not_carry_more_points_than_the_tightest_enabled_board_holds(windows: str, largest: int) -> None:
    allowed = Settings.from_env({"LEADERBOARD_WINDOWS": windows, "MAX_POINTS_PER_EVENT": str(largest)})
    assert allowed.max_points_per_event == largest
    with pytest.raises(
        ValueError, match=f"MAX_POINTS_PER_EVENT must be at most {largest}, got {largest + 1}: the largest total"
    ) as refused:
        Settings.from_env({"LEADERBOARD_WINDOWS": windows, "MAX_POINTS_PER_EVENT": str(largest + 1)})
    assert ("alltime" in str(refused.value)) == ("alltime" in windows)
