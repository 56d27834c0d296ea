"""Ingest's configurable bounds, at their edges, in the domain core (no I/O)."""

from __future__ import annotations

import pytest

from shared.adapters.settings import Settings
from shared.domain.events import InvalidInput, ScoreBatch, ScoreSubmission, to_score_event, to_score_events
from shared.domain.periods import period_end_ms, period_start_ms

pytestmark = pytest.mark.security

LIMITS = Settings().score_limits()
GRACE_MS = 3 * 86_400_000
OCTOBER_END = period_end_ms("2026-10")  # the first instant of November


def submission(**fields: object) -> ScoreSubmission:
    return ScoreSubmission.model_validate({"match_id": "m1", "user_id": "u1", **fields})


def refused_field(fields: dict[str, object], received_at_ms: int) -> str:
    with pytest.raises(InvalidInput) as caught:
        to_score_event(submission(**fields), LIMITS, received_at_ms=received_at_ms)
    return caught.value.field


def test_the_defaults_are_the_documented_ones() -> None:
    assert (LIMITS.max_points_per_event, LIMITS.max_future_skew_ms) == (10_000, 300_000)
    assert (LIMITS.late_event_grace_ms, LIMITS.max_events_per_batch) == (GRACE_MS, 500)


def test_a_late_event_is_accepted_until_the_grace_after_its_month_ends() -> None:
    last_second_of_october = OCTOBER_END - 1000
    event = to_score_event(
        submission(occurred_at=last_second_of_october), LIMITS, received_at_ms=OCTOBER_END + GRACE_MS - 1
    )
    assert event.period == "2026-10"
    refused = refused_field({"occurred_at": last_second_of_october}, OCTOBER_END + GRACE_MS)
    assert refused == "occurred_at"


def test_an_event_from_two_months_ago_is_refused_whatever_the_day() -> None:
    assert refused_field({"occurred_at": period_start_ms("2026-09")}, OCTOBER_END + 1) == "occurred_at"


def test_the_refusal_names_the_closed_month() -> None:
    with pytest.raises(InvalidInput, match="2026-09"):
        to_score_event(submission(occurred_at="2026-09-15T10:00:00Z"), LIMITS, received_at_ms=OCTOBER_END)


def test_zero_grace_closes_a_month_when_it_ends() -> None:
    strict = Settings.from_env({"LATE_EVENT_GRACE_SECONDS": "0"}).score_limits()
    with pytest.raises(InvalidInput):
        to_score_event(submission(occurred_at=OCTOBER_END - 1), strict, received_at_ms=OCTOBER_END)
    assert to_score_event(submission(occurred_at=OCTOBER_END), strict, received_at_ms=OCTOBER_END).period == "2026-11"


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
    small = Settings.from_env({"MAX_POINTS_PER_EVENT": "5"}).score_limits()
    with pytest.raises(InvalidInput) as caught:
        to_score_event(submission(points=6), small, received_at_ms=OCTOBER_END)
    assert caught.value.field == "points"


def test_a_batch_over_the_configured_size_names_scores() -> None:
    limits = Settings.from_env({"MAX_EVENTS_PER_BATCH": "3"}).score_limits()
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
        to_score_events(batch, LIMITS, received_at_ms=OCTOBER_END)
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
    ],
)
def test_settings_out_of_bounds_fail_at_start_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})
