"""occurred_at as RFC 3339 (section 5.6), exactly: what the RFC allows is read, anything else is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.boards import BoardSchedule, Window, parse_windows
from shared.domain.events import InvalidInput, ScoreLimits, ScoreSubmission, to_score_event
from shared.domain.timestamps import NotRfc3339, epoch_ms_to_rfc3339, rfc3339_to_epoch_ms

DECEMBER = Window.MONTHLY.parse_period("2026-12").start_ms  # 2026-12-01T00:00:00Z
TEN_AM = DECEMBER + 10 * 3_600_000


@pytest.mark.parametrize(
    ("text", "epoch_ms"),
    [
        ("2026-12-01T10:00:00Z", TEN_AM),
        ("2026-12-01t10:00:00z", TEN_AM),
        ("2026-12-01T10:00:00+00:00", TEN_AM),
        ("2026-12-01T10:00:00-00:00", TEN_AM),
        ("2026-12-01T11:30:00+01:30", TEN_AM),
        ("2026-11-30T23:00:00-11:00", TEN_AM),
        ("2026-12-01T10:00:00.5Z", TEN_AM + 500),
        ("2026-12-01T10:00:00.25Z", TEN_AM + 250),
        ("2026-12-01T10:00:00.123456789Z", TEN_AM + 123),
        ("2026-12-01T10:00:00.999999+00:00", TEN_AM + 999),
        ("2026-12-01T09:59:60Z", TEN_AM - 1),
        ("2026-11-30T23:59:60Z", DECEMBER - 1),
        ("2028-02-29T00:00:00Z", Window.MONTHLY.parse_period("2028-02").start_ms + 28 * 86_400_000),
    ],
)
def test_rfc3339_forms_are_read(text: str, epoch_ms: int) -> None:
    assert rfc3339_to_epoch_ms(text) == epoch_ms


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01 10:00:00Z",  # space separator
        "2026-12-01_10:00:00Z",
        "20261201T100000Z",  # ISO basic
        "2026-12-01T100000Z",
        "2026-W49-2T10:00:00Z",  # week date
        "2026-W49",
        "2026-335T10:00:00Z",  # ordinal date
        "2026-12-01",  # a date without time
        "2026-12-01T10:00Z",  # no seconds
        "2026-12-01T10Z",
        "2026-12-01T10:00:00",  # no offset
        "2026-12-01T10:00:00+0100",  # offset without colon
        "2026-12-01T10:00:00+01",
        "2026-12-01T10:00:00.Z",  # a point without digits
        "2026-12-01T10:00:00,5Z",  # comma fraction
        "2026-12-01T24:00:00Z",  # 24:00
        "2026-12-01T23:60:00Z",
        "2026-12-01T23:59:61Z",
        "2026-12-01T10:00:00+24:00",
        "2026-12-01T10:00:00+01:60",
        "2026-02-30T10:00:00Z",  # not a calendar date
        "2026-13-01T10:00:00Z",
        "0000-12-01T10:00:00Z",
        "+2026-12-01T10:00:00Z",
        "2026-12-01T10:00:00Z ",
        " 2026-12-01T10:00:00Z",
        "\uff12\uff10\uff12\uff16-12-01T10:00:00Z",  # full-width digits
        "2026-12-01T10:00:00\u00a0Z",
        "",
    ],
)
def test_other_forms_are_refused(text: str) -> None:
    with pytest.raises(NotRfc3339):
        rfc3339_to_epoch_ms(text)


LIMITS = ScoreLimits(
    max_points_per_event=10_000,
    max_future_skew_ms=300_000,
    board_schedule=BoardSchedule(parse_windows()),
    max_events_per_batch=500,
)


def test_a_refused_form_is_a_400_naming_occurred_at() -> None:
    submission = ScoreSubmission.model_validate(
        {"match_id": "m", "user_id": "u", "occurred_at": "2026-12-01 10:00:00Z"}
    )
    with pytest.raises(InvalidInput) as caught:
        to_score_event(submission, LIMITS, received_at_ms=TEN_AM)
    assert caught.value.field == "occurred_at"
    assert "RFC 3339" in caught.value.message


def test_lower_case_t_and_z_count_in_their_month() -> None:
    submission = ScoreSubmission.model_validate(
        {"match_id": "m", "user_id": "u", "occurred_at": "2026-12-01t10:00:00z"}
    )
    event = to_score_event(submission, LIMITS, received_at_ms=TEN_AM + 60_000)
    assert (event.occurred_at_ms, event.period) == (TEN_AM, "2026-12")


def test_instants_are_written_in_utc_with_milliseconds_only_when_there_are_some() -> None:
    assert epoch_ms_to_rfc3339(DECEMBER) == "2026-12-01T00:00:00Z"
    assert epoch_ms_to_rfc3339(TEN_AM + 250) == "2026-12-01T10:00:00.250Z"
    assert epoch_ms_to_rfc3339(DECEMBER - 1) == "2026-11-30T23:59:59.999Z"


@given(st.integers(-62_135_596_800_000, 253_402_300_799_999))
def test_written_instants_read_back_the_same(epoch_ms: int) -> None:
    assert rfc3339_to_epoch_ms(epoch_ms_to_rfc3339(epoch_ms)) == epoch_ms
