"""Boards and periods, checked against Python's datetime and isocalendar as the oracle.

Every instant is passed explicitly: nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from shared.domain.boards import (
    ALLTIME_LAST_MS,
    ALLTIME_ORIGIN_MS,
    CALENDAR_END_MS,
    CALENDAR_MIN_MS,
    DAY_MS,
    ECHO_LIMIT,
    Board,
    InvalidPeriod,
    UnknownWindow,
    Window,
    enabled_window,
    parse_windows,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CALENDAR_WINDOWS = (Window.DAILY, Window.WEEKLY, Window.MONTHLY)


def ms(text: str) -> int:
    """Epoch ms of an RFC 3339 UTC instant, via datetime (the oracle, not the code under test)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(milliseconds=1)


def oracle_period(window: Window, epoch_ms: int) -> str:
    day = (EPOCH + timedelta(milliseconds=epoch_ms)).date()
    if window is Window.DAILY:
        return day.isoformat()
    if window is Window.MONTHLY:
        return day.strftime("%Y-%m") if day.year >= 1000 else f"{day.year:04d}-{day.month:02d}"
    iso = day.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def oracle_start_ms(board: Board) -> int:
    text = board.period
    if board.window is Window.DAILY:
        first = date(int(text[:4]), int(text[5:7]), int(text[8:]))
    elif board.window is Window.MONTHLY:
        first = date(int(text[:4]), int(text[5:]), 1)
    else:
        first = date.fromisocalendar(int(text[:4]), int(text[6:]), 1)
    return (first - EPOCH.date()).days * DAY_MS


calendar_instants = st.integers(min_value=CALENDAR_MIN_MS, max_value=CALENDAR_END_MS - 1)
# Midnights and the last millisecond before them: where periods change.
day_edges = st.builds(
    lambda day, offset: day * DAY_MS + offset,
    st.integers(min_value=CALENDAR_MIN_MS // DAY_MS, max_value=CALENDAR_END_MS // DAY_MS - 1),
    st.sampled_from([0, 1, DAY_MS - 1]),
)


@given(st.sampled_from(CALENDAR_WINDOWS), st.one_of(calendar_instants, day_edges))
@example(Window.WEEKLY, CALENDAR_MIN_MS)
@example(Window.WEEKLY, CALENDAR_END_MS - 1)
def test_period_of_matches_datetime(window: Window, instant: int) -> None:
    board = window.board_at(instant)
    assert board.period == oracle_period(window, instant)
    assert board.start_ms == oracle_start_ms(board)
    assert board.start_ms <= instant < (board.end_ms or 0)
    assert board.contains(instant)
    assert window.parse_period(board.period) == board
    assert re.fullmatch(window.period_pattern, board.period), "the API documents this shape"


@given(st.sampled_from(CALENDAR_WINDOWS), st.one_of(calendar_instants, day_edges))
def test_a_period_ends_where_the_next_starts(window: Window, instant: int) -> None:
    board = window.board_at(instant)
    end = board.end_ms
    assert end is not None
    assert not board.contains(end) and not board.contains(board.start_ms - 1)
    if end < CALENDAR_END_MS:
        following = window.board_at(end)
        assert following.start_ms == end and following.period > board.period
        assert following.previous() == board


@pytest.mark.parametrize(
    ("instant", "daily", "weekly", "monthly"),
    [
        ("2026-12-01T23:59:59.999Z", "2026-12-01", "2026-W49", "2026-12"),
        ("2026-12-02T00:00:00.000Z", "2026-12-02", "2026-W49", "2026-12"),
        # Sunday to Monday
        ("2026-12-27T23:59:59.999Z", "2026-12-27", "2026-W52", "2026-12"),
        ("2026-12-28T00:00:00.000Z", "2026-12-28", "2026-W53", "2026-12"),
        # Dec 31 to Jan 1: 2026 has 53 ISO weeks, and its last one runs into 2027
        ("2026-12-31T23:59:59.999Z", "2026-12-31", "2026-W53", "2026-12"),
        ("2027-01-01T00:00:00.000Z", "2027-01-01", "2026-W53", "2027-01"),
        ("2027-01-03T23:59:59.999Z", "2027-01-03", "2026-W53", "2027-01"),
        ("2027-01-04T00:00:00.000Z", "2027-01-04", "2027-W01", "2027-01"),
        # 2020 (a leap year starting on a Wednesday) has 53 weeks too
        ("2020-12-31T23:59:59.999Z", "2020-12-31", "2020-W53", "2020-12"),
        ("2021-01-03T23:59:59.999Z", "2021-01-03", "2020-W53", "2021-01"),
        ("2021-01-04T00:00:00.000Z", "2021-01-04", "2021-W01", "2021-01"),
        # and a Monday in December can open the next ISO year
        ("2024-12-29T23:59:59.999Z", "2024-12-29", "2024-W52", "2024-12"),
        ("2024-12-30T00:00:00.000Z", "2024-12-30", "2025-W01", "2024-12"),
        ("2024-02-29T12:00:00.000Z", "2024-02-29", "2024-W09", "2024-02"),
    ],
)
def test_periods_at_boundaries(instant: str, daily: str, weekly: str, monthly: str) -> None:
    at = ms(instant)
    assert (Window.DAILY.period_of(at), Window.WEEKLY.period_of(at), Window.MONTHLY.period_of(at)) == (
        daily,
        weekly,
        monthly,
    )
    assert Window.ALLTIME.period_of(at) == "all"


def test_a_week_spanning_two_months() -> None:
    week = Window.WEEKLY.parse_period("2026-W05")
    assert (week.start_ms, week.end_ms) == (ms("2026-01-26T00:00:00Z"), ms("2026-02-02T00:00:00Z"))
    january_31, february_1 = ms("2026-01-31T23:59:59.999Z"), ms("2026-02-01T00:00:00Z")
    assert Window.WEEKLY.board_at(january_31) == Window.WEEKLY.board_at(february_1) == week
    assert (Window.MONTHLY.period_of(january_31), Window.MONTHLY.period_of(february_1)) == ("2026-01", "2026-02")
    # Both instants are seconds since the week's start, whichever month they fall in.
    assert week.ticks_at(february_1) - week.ticks_at(january_31) == 1


def test_iso_years_have_52_or_53_weeks_as_datetime_says() -> None:
    for year in range(1, 10_000):
        weeks = date(year, 12, 28).isocalendar().week
        last = Window.WEEKLY.parse_period(f"{year:04d}-W{weeks:02d}")
        assert last.start_ms == oracle_start_ms(last)
        with pytest.raises(InvalidPeriod, match=f"{year:04d} has weeks 01..{weeks}"):
            Window.WEEKLY.parse_period(f"{year:04d}-W{weeks + 1:02d}")


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (Window.WEEKLY, "2026-W54"),
        (Window.WEEKLY, "2025-W53"),
        (Window.WEEKLY, "2026-W00"),
        (Window.WEEKLY, "2026-W1"),
        (Window.WEEKLY, "2026-w01"),
        (Window.WEEKLY, "2026W01"),
        (Window.WEEKLY, "0000-W01"),
        (Window.WEEKLY, "2026-01"),
        (Window.MONTHLY, "2026-13"),
        (Window.MONTHLY, "2026-00"),
        (Window.MONTHLY, "2026-1"),
        (Window.MONTHLY, "26-01"),
        (Window.MONTHLY, "0000-01"),
        (Window.MONTHLY, "2026-01-01"),
        (Window.MONTHLY, "2026-01x"),
        (Window.MONTHLY, "abcd-ef"),
        (Window.MONTHLY, ""),
        (Window.MONTHLY, "2026-01\n"),
        (Window.MONTHLY, "\u0662\u0660\u0662\u0666-01"),  # Arabic-Indic digits are digits to \d, not here
        (Window.DAILY, "2026-02-30"),
        (Window.DAILY, "2025-02-29"),
        (Window.DAILY, "2026-04-31"),
        (Window.DAILY, "2026-13-01"),
        (Window.DAILY, "2026-1-01"),
        (Window.DAILY, "2026-12"),
        (Window.DAILY, " 2026-12-01"),
        (Window.ALLTIME, "All"),
        (Window.ALLTIME, "all "),
        (Window.ALLTIME, "2026"),
        (Window.ALLTIME, ""),
    ],
)
def test_parse_refuses_wrong_formats(window: Window, text: str) -> None:
    with pytest.raises(InvalidPeriod, match=window.period_format.split(" ")[0]) as refused:
        window.parse_period(text)
    assert (refused.value.window, refused.value.text) == (window, text)
    with pytest.raises(InvalidPeriod):
        Board(window, text)


@pytest.mark.parametrize(
    ("window", "text"),
    [(Window.MONTHLY, "2026-13"), (Window.MONTHLY, "2026-00"), (Window.MONTHLY, "2026-1"), (Window.ALLTIME, "All")],
)
def test_the_documented_pattern_refuses_what_parsing_refuses(window: Window, text: str) -> None:
    assert re.fullmatch(window.period_pattern, text) is None
    assert re.fullmatch(Window.ALLTIME.period_pattern, "all") and re.fullmatch(Window.MONTHLY.period_pattern, "2026-12")


@pytest.mark.parametrize(
    ("window", "text", "start", "end"),
    [
        (Window.DAILY, "2024-02-29", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"),
        (Window.WEEKLY, "2020-W53", "2020-12-28T00:00:00Z", "2021-01-04T00:00:00Z"),
        (Window.WEEKLY, "2026-W01", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"),
        (Window.MONTHLY, "2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
        (Window.MONTHLY, "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
    ],
)
def test_period_start_and_end(window: Window, text: str, start: str, end: str) -> None:
    board = window.parse_period(text)
    assert (board.start_ms, board.end_ms) == (ms(start), ms(end))


def test_the_alltime_board_starts_at_its_origin_and_never_ends() -> None:
    board = Window.ALLTIME.parse_period("all")
    assert board.start_ms == ALLTIME_ORIGIN_MS == ms("2020-01-01T00:00:00Z")
    assert board.end_ms is None and board.closes_at_ms(grace_ms=0) is None and board.previous() is None
    assert Window.ALLTIME.board_at(ALLTIME_ORIGIN_MS) == Window.ALLTIME.board_at(ALLTIME_LAST_MS) == board
    for outside in (ALLTIME_ORIGIN_MS - 1, ALLTIME_LAST_MS + 1):
        assert not board.contains(outside)
        with pytest.raises(ValueError, match=r"2020-01-01T00:00:00\.000Z to 2083-10-18T16:31:59\.999Z"):
            Window.ALLTIME.board_at(outside)


@pytest.mark.parametrize("window", CALENDAR_WINDOWS)
def test_calendar_windows_refuse_instants_outside_years_1_to_9999(window: Window) -> None:
    for outside in (CALENDAR_MIN_MS - 1, CALENDAR_END_MS):
        with pytest.raises(ValueError, match=r"0001\.\.9999"):
            window.board_at(outside)


@given(st.integers(min_value=1970, max_value=9998), st.integers(min_value=1, max_value=12))
def test_monthly_boards_keep_the_keys_and_bounds_boards_were_written_with(year: int, month: int) -> None:
    period = f"{year:04d}-{month:02d}"
    board = Window.MONTHLY.parse_period(period)
    assert board.key == "lb:{monthly:" + period + "}"
    next_month = date(year + month // 12, month % 12 + 1, 1)
    assert (board.start_ms, board.end_ms) == (oracle_start_ms(board), (next_month - EPOCH.date()).days * DAY_MS)
    assert board.ticks_at(board.start_ms + 12_345_678) == 12_345, "whole seconds since the 1st, 00:00"


def test_a_known_instant_is_in_its_utc_month() -> None:
    assert Window.MONTHLY.period_of(1_793_880_000_000) == "2026-11"  # 2026-11-05T12:00:00Z
    december = Window.MONTHLY.parse_period("2026-12").start_ms
    assert (Window.MONTHLY.period_of(december - 1), Window.MONTHLY.period_of(december)) == ("2026-11", "2026-12")


def test_keys_name_the_window_and_period_in_one_hash_tag() -> None:
    assert Window.DAILY.parse_period("2026-12-02").key == "lb:{daily:2026-12-02}"
    assert Window.WEEKLY.parse_period("2026-W49").key == "lb:{weekly:2026-W49}"
    assert Window.MONTHLY.parse_period("2026-12").key == "lb:{monthly:2026-12}"
    assert Window.ALLTIME.parse_period("all").key == "lb:{alltime:all}"


def test_a_board_closes_to_late_events_its_grace_after_it_ends() -> None:
    day = Window.DAILY.parse_period("2026-12-31")
    grace = 2 * 3_600_000
    closes = day.closes_at_ms(grace)
    assert closes == ms("2027-01-01T02:00:00Z")
    assert day.is_open_at(closes - 1, grace) and not day.is_open_at(closes, grace)
    assert day.closes_at_ms(0) == day.end_ms
    with pytest.raises(ValueError, match="grace"):
        day.closes_at_ms(-1)
    assert Window.ALLTIME.parse_period("all").is_open_at(ALLTIME_LAST_MS, grace_ms=0)


@pytest.mark.parametrize(
    ("window", "current", "next_reset"),
    [
        (Window.DAILY, "2026-12-31", "2027-01-01T00:00:00Z"),
        (Window.WEEKLY, "2026-W53", "2027-01-04T00:00:00Z"),
        (Window.MONTHLY, "2026-12", "2027-01-01T00:00:00Z"),
        (Window.ALLTIME, "all", None),
    ],
)
def test_current_period_and_next_reset(window: Window, current: str, next_reset: str | None) -> None:
    now = ms("2026-12-31T23:59:59.999Z")
    assert window.current(now).period == current
    assert window.next_reset_ms(now) == (None if next_reset is None else ms(next_reset))


@given(st.sampled_from(CALENDAR_WINDOWS), st.integers(min_value=0, max_value=ms("9999-01-01T00:00:00Z")))
def test_the_next_reset_is_the_first_instant_of_another_period(window: Window, now: int) -> None:
    reset = window.next_reset_ms(now)
    assert reset is not None and reset > now
    assert window.period_of(reset) != window.period_of(now) == window.period_of(reset - 1)


@given(st.sampled_from(CALENDAR_WINDOWS), st.one_of(calendar_instants, day_edges), st.integers(1, 60))
def test_recent_periods_are_consecutive_newest_first(window: Window, now: int, count: int) -> None:
    recent = window.recent_periods(now, count)
    assert recent[0] == window.period_of(now)
    boards = [window.parse_period(period) for period in recent]
    assert all(newer.start_ms == older.end_ms for newer, older in pairwise(boards))
    assert len(recent) == count or (len(recent) < count and boards[-1].previous() is None)


def test_recent_periods_examples() -> None:
    now = ms("2027-01-02T08:00:00Z")
    assert Window.DAILY.recent_periods(now, 3) == ("2027-01-02", "2027-01-01", "2026-12-31")
    assert Window.WEEKLY.recent_periods(now, 3) == ("2026-W53", "2026-W52", "2026-W51")
    assert Window.MONTHLY.recent_periods(now, 3) == ("2027-01", "2026-12", "2026-11")
    assert Window.ALLTIME.recent_periods(now, 3) == ("all",)
    assert Window.DAILY.recent_periods(ms("0001-01-02T00:00:00Z"), 5) == ("0001-01-02", "0001-01-01")
    with pytest.raises(ValueError, match="count"):
        Window.DAILY.recent_periods(now, 0)


def test_leaderboard_windows_default_to_all_four_in_a_fixed_order() -> None:
    assert parse_windows() == (Window.DAILY, Window.WEEKLY, Window.MONTHLY, Window.ALLTIME)
    assert parse_windows(" alltime , daily") == (Window.DAILY, Window.ALLTIME)
    assert parse_windows("monthly") == (Window.MONTHLY,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must list at least one window"),
        ("  ", "must list at least one window"),
        ("daily,,weekly", "empty entry"),
        ("daily,", "empty entry"),
        ("hourly", "unknown window 'hourly'"),
        ("Daily", "unknown window 'Daily'"),
        ("daily,daily", "lists 'daily' twice"),
    ],
)
def test_leaderboard_windows_refuses_bad_lists(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        parse_windows(text)
    assert str(refused.value).startswith("LEADERBOARD_WINDOWS")


def test_a_route_names_an_enabled_window() -> None:
    enabled = (Window.DAILY, Window.MONTHLY)
    assert enabled_window("daily", enabled) is Window.DAILY
    for name in ("weekly", "hourly", "DAILY", ""):
        with pytest.raises(UnknownWindow, match="enabled: daily, monthly"):
            enabled_window(name, enabled)


def test_errors_quote_a_long_input_only_in_part() -> None:
    with pytest.raises(InvalidPeriod) as bad_period:
        Window.DAILY.parse_period("9" * 100_000)
    with pytest.raises(UnknownWindow) as bad_window:
        enabled_window("w" * 100_000, (Window.DAILY,))
    for problem in (bad_period.value, bad_window.value):
        assert len(str(problem)) < ECHO_LIMIT + 120 and "100000 characters" in str(problem)


def test_a_disabled_window_is_named_plainly() -> None:
    with pytest.raises(UnknownWindow) as disabled:
        enabled_window(Window.MONTHLY, (Window.DAILY,))
    assert str(disabled.value) == "unknown window 'monthly'; enabled: daily"
