"""The updater's memory of which boards a record counts on answers exactly as BoardSchedule.boards_for,
at every closing instant and a millisecond either side, on ordinary days and at the all-time range's ends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.application.apply import BoardRouter
from shared.domain.boards import ALLTIME_LAST_MS, ALLTIME_ORIGIN_MS, DAY_MS, Board, BoardSchedule, Window

HOUR_MS = 3_600_000

schedules = st.builds(
    BoardSchedule,
    st.lists(st.sampled_from(list(Window)), min_size=1, unique=True).map(
        lambda chosen: tuple(window for window in Window if window in chosen)
    ),
    st.fixed_dictionaries(
        {
            window: st.sampled_from([0, 1, 2 * HOUR_MS, DAY_MS, 3 * DAY_MS, 40 * DAY_MS])
            for window in (Window.DAILY, Window.WEEKLY, Window.MONTHLY)
        }
    ),
)
instants = st.one_of(
    st.integers(ALLTIME_ORIGIN_MS - 40 * DAY_MS, ALLTIME_ORIGIN_MS + 4000 * DAY_MS),
    st.integers(ALLTIME_ORIGIN_MS - DAY_MS, ALLTIME_ORIGIN_MS + DAY_MS),
    st.integers(ALLTIME_LAST_MS - DAY_MS, ALLTIME_LAST_MS + DAY_MS),
)


def receipts_to_try(schedule: BoardSchedule, occurred_at_ms: int) -> list[int | None]:
    """No receipt time, and each closing instant of the boards holding the instant, a millisecond either side."""
    tried: list[int | None] = [None, occurred_at_ms]
    for board in schedule.boards_for(occurred_at_ms, None):
        closes = board.closes_at_ms(schedule.grace_of(board.window))
        if closes is not None:
            tried += [closes - 1, closes, closes + 1]
    return tried


def routed(router: BoardRouter, occurred_at_ms: int, received_at_ms: int | None) -> list[Board]:
    lanes = router.lanes_for(occurred_at_ms, received_at_ms)
    for lane in lanes:
        assert lane.key == lane.board.key
        assert (occurred_at_ms - lane.start_ms) // lane.tick_ms == lane.board.ticks_at(occurred_at_ms)
    return [lane.board for lane in lanes]


@given(schedules, st.lists(instants, min_size=1, max_size=8))
def test_the_router_answers_as_the_schedule(schedule: BoardSchedule, occurred: list[int]) -> None:
    router = BoardRouter(schedule)
    for occurred_at in occurred + occurred:  # the second round is answered from memory
        for received_at in receipts_to_try(schedule, occurred_at):
            assert routed(router, occurred_at, received_at) == schedule.boards_for(occurred_at, received_at)


def test_the_day_the_alltime_range_ends_is_answered_per_instant() -> None:
    schedule = BoardSchedule(tuple(Window))
    router = BoardRouter(schedule)
    inside, outside = ALLTIME_LAST_MS, ALLTIME_LAST_MS + 1
    assert Window.ALLTIME in {board.window for board in routed(router, inside, None)}
    assert Window.ALLTIME not in {board.window for board in routed(router, outside, None)}
    assert Window.ALLTIME in {board.window for board in routed(router, inside, None)}
