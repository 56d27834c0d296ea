"""Hot retention: when a closed board leaves Redis, and what the updater does with a record for a
board whose retention has ended (the in-memory writer stands in for the apply script, which the
integration tests run on a real redis-server)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.boards import (
    CALENDAR_END_MS,
    DAY_MS,
    DEFAULT_GRACE_MS,
    PERIODS_LISTED,
    WEEK_MS,
    BoardSchedule,
    Window,
    parse_windows,
)
from tests.support.updater_fakes import (
    InMemoryBoards,
    RecordingDeadLetters,
    board,
    kafka_event,
    ms,
    process,
    record,
    score,
)

EVERY_WINDOW = BoardSchedule(parse_windows())
HOUR_MS = 3_600_000


def test_a_closed_board_expires_its_retention_after_it_closed() -> None:
    day, week = board(Window.DAILY, "2026-11-17"), board(Window.WEEKLY, "2026-W47")
    assert EVERY_WINDOW.expires_at_ms(day) == ms("2026-11-18T02:00:00Z") + 14 * DAY_MS
    assert EVERY_WINDOW.expires_at_ms(week) == ms("2026-11-23T00:00:00Z") + DAY_MS + 56 * DAY_MS
    longer_grace = BoardSchedule(tuple(Window), {Window.DAILY: 5 * DAY_MS})
    assert longer_grace.expires_at_ms(day) == ms("2026-11-18T00:00:00Z") + 5 * DAY_MS + 14 * DAY_MS


def test_months_and_the_alltime_board_are_kept_and_a_zero_retention_keeps_a_window() -> None:
    assert EVERY_WINDOW.expires_at_ms(board(Window.MONTHLY, "2026-11")) is None
    assert EVERY_WINDOW.expires_at_ms(board(Window.ALLTIME, "all")) is None
    keep_days = BoardSchedule(tuple(Window), retention_ms={Window.DAILY: 0, Window.MONTHLY: 30 * DAY_MS})
    assert keep_days.expires_at_ms(board(Window.DAILY, "2026-11-17")) is None
    assert keep_days.expires_at_ms(board(Window.MONTHLY, "2026-11")) == ms("2026-12-04T00:00:00Z") + 30 * DAY_MS
    assert keep_days.expires_at_ms(board(Window.WEEKLY, "2026-W47")) is not None, "unnamed windows keep the default"


def test_the_default_retentions_are_the_periods_listed() -> None:
    assert EVERY_WINDOW.retention_ms == {
        Window.DAILY: PERIODS_LISTED[Window.DAILY] * DAY_MS,
        Window.WEEKLY: PERIODS_LISTED[Window.WEEKLY] * WEEK_MS,
        Window.MONTHLY: 0,
    }
    assert (EVERY_WINDOW.retention_ms[Window.DAILY], EVERY_WINDOW.retention_ms[Window.WEEKLY]) == (
        14 * DAY_MS,
        56 * DAY_MS,
    )


@given(
    now=st.integers(min_value=ms("2001-01-01T00:00:00Z"), max_value=CALENDAR_END_MS - 100 * DAY_MS),
    window=st.sampled_from([Window.DAILY, Window.WEEKLY]),
    grace=st.integers(min_value=0, max_value=30 * DAY_MS),
)
def test_every_period_the_periods_route_lists_is_still_in_redis(now: int, window: Window, grace: int) -> None:
    schedule = BoardSchedule(tuple(Window), {window: grace})
    oldest_listed = window.parse_period(window.recent_periods(now, PERIODS_LISTED[window])[-1])
    expires = schedule.expires_at_ms(oldest_listed)
    assert expires is not None and expires > now


def test_a_record_for_a_board_past_its_retention_is_skipped_there_and_counted() -> None:
    occurred = ms("2026-11-17T22:00:00Z")
    day_expires = ms("2026-11-18T02:00:00Z") + 14 * DAY_MS
    boards = InMemoryBoards(now_ms=day_expires)
    event = kafka_event(record(0, 1, score("ann", "m1", 3, at=occurred, received=occurred + HOUR_MS)))
    failures, tally = process(boards, RecordingDeadLetters(), event)
    assert failures == []
    assert boards.on(Window.DAILY, "2026-11-17") == {}, "an expired board is not brought back"
    for window, period in ((Window.WEEKLY, "2026-W47"), (Window.MONTHLY, "2026-11"), (Window.ALLTIME, "all")):
        assert boards.on(window, period) == {"ann": 3}
    assert (tally.applied, tally.past_retention, tally.redelivered) == (1, 1, 0)
    assert tally.board_updates[Window.DAILY].skipped == 1


def test_a_record_whose_every_board_expired_is_neither_applied_nor_redelivered() -> None:
    occurred = ms("2026-11-17T22:00:00Z")
    boards = InMemoryBoards(now_ms=ms("2027-06-01T00:00:00Z"))
    only_days = BoardSchedule((Window.DAILY,))
    event = kafka_event(record(0, 1, score("ann", "m1", 3, at=occurred, received=occurred)))
    failures, tally = process(boards, RecordingDeadLetters(), event, only_days)
    assert failures == [] and boards.points == {}
    assert (tally.applied, tally.redelivered, tally.duplicates, tally.past_retention) == (0, 0, 0, 1)


def test_each_board_is_written_with_its_own_expiry() -> None:
    boards = InMemoryBoards()
    occurred = ms("2026-11-17T22:00:00Z")
    process(boards, RecordingDeadLetters(), kafka_event(record(0, 1, score("ann", "m1", 3, at=occurred))))
    day_closes = ms("2026-11-18T00:00:00Z") + DEFAULT_GRACE_MS[Window.DAILY]
    week_closes = ms("2026-11-23T00:00:00Z") + DEFAULT_GRACE_MS[Window.WEEKLY]
    assert boards.expiries == {
        board(Window.DAILY, "2026-11-17"): day_closes + 14 * DAY_MS,
        board(Window.WEEKLY, "2026-W47"): week_closes + 56 * DAY_MS,
        board(Window.MONTHLY, "2026-11"): None,
        board(Window.ALLTIME, "all"): None,
    }
