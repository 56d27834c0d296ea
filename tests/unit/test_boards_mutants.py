"""shared/domain/boards.py where `make mutation` found it untested: how a bad period is quoted back,
and a retention of a single millisecond."""

from __future__ import annotations

import pytest

from shared.domain.boards import DEFAULT_GRACE_MS, ECHO_LIMIT, BoardSchedule, InvalidPeriod, Window


def test_a_bad_period_is_quoted_whole_up_to_the_limit_and_cut_beyond() -> None:
    at_limit = "x" * ECHO_LIMIT
    assert str(InvalidPeriod(Window.DAILY, at_limit)).endswith(f"got {at_limit!r}")
    assert str(InvalidPeriod(Window.DAILY, at_limit + "y")).endswith(f"got {at_limit!r}… ({ECHO_LIMIT + 1} characters)")


def test_a_bad_period_names_its_reason_only_when_there_is_one() -> None:
    assert str(InvalidPeriod(Window.DAILY, "2026-13-01")) == (
        f"daily period must look like {Window.DAILY.period_format}, got '2026-13-01'"
    )
    assert str(InvalidPeriod(Window.DAILY, "2026-13-01", "no month 13")).endswith("got '2026-13-01' (no month 13)")


def test_a_retention_of_one_millisecond_still_expires_the_board() -> None:
    schedule = BoardSchedule((Window.DAILY,), retention_ms={Window.DAILY: 1})
    board = Window.DAILY.parse_period("2026-06-01")
    closes = board.closes_at_ms(schedule.grace_of(Window.DAILY))
    assert closes is not None
    assert schedule.expires_at_ms(board) == closes + 1


def test_a_window_left_out_of_the_grace_settings_gets_its_default_grace() -> None:
    assert BoardSchedule((Window.DAILY,), grace_ms={}).grace_of(Window.DAILY) == DEFAULT_GRACE_MS[Window.DAILY]


def test_the_boards_of_an_instant_skip_a_window_whose_range_does_not_hold_it() -> None:
    assert BoardSchedule((Window.ALLTIME, Window.DAILY)).boards_for(0, None) == [Window.DAILY.board_at(0)]


def test_a_year_before_0001_is_refused_saying_so() -> None:
    with pytest.raises(InvalidPeriod) as refused:
        Window.MONTHLY.parse_period("0000-01")
    assert str(refused.value).endswith("got '0000-01' (years start at 0001)")


def test_a_date_that_does_not_exist_is_refused_with_the_calendars_reason() -> None:
    with pytest.raises(InvalidPeriod) as refused:
        Window.DAILY.parse_period("2026-02-30")
    assert str(refused.value).endswith("got '2026-02-30' (day is out of range for month)")
