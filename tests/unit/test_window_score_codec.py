"""The tie-break encoding of every window, at the edges of what it can hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.boards import ALLTIME_LAST_MS, Board, Window
from shared.domain.score_codec import SECONDS, ScoreCodec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "BOARDS.md"
EXACT = 2**53
SAMPLE_BOARDS = {
    Window.DAILY: Board(Window.DAILY, "2026-12-31"),
    Window.WEEKLY: Board(Window.WEEKLY, "2026-W53"),
    Window.MONTHLY: Board(Window.MONTHLY, "2026-12"),
    Window.ALLTIME: Board(Window.ALLTIME, "all"),
}


def last_instant(board: Board) -> int:
    return ALLTIME_LAST_MS if board.end_ms is None else board.end_ms - 1


def edge_points(codec: ScoreCodec) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([0, 1, codec.max_points - 1, codec.max_points]), st.integers(0, codec.max_points))


@st.composite
def window_points_ticks(draw: st.DrawFn) -> tuple[ScoreCodec, int, int]:
    codec = draw(st.sampled_from(Window)).codec
    ticks = draw(st.one_of(st.sampled_from([0, 1, codec.max_ticks]), st.integers(0, codec.max_ticks)))
    return codec, draw(edge_points(codec)), ticks


@given(window_points_ticks())
def test_round_trips_through_a_redis_double(case: tuple[ScoreCodec, int, int]) -> None:
    codec, points, ticks = case
    score = codec.encode(points, ticks)
    assert 0 <= score < EXACT and float(score) == score
    for as_redis_returns_it in (repr(float(score)), float(score), str(score).encode()):
        assert (codec.decode(as_redis_returns_it).points, codec.decode(as_redis_returns_it).ticks) == (points, ticks)
        assert codec.points_of(as_redis_returns_it) == points


@given(st.sampled_from(Window), st.data())
def test_a_board_round_trips_its_first_and_last_instants(window: Window, data: st.DataObject) -> None:
    board = SAMPLE_BOARDS[window]
    codec = board.codec
    points = data.draw(edge_points(codec))
    first, last = board.start_ms, last_instant(board)
    assert codec.decode(float(board.encode(points, first))).ticks == 0
    assert codec.decode(float(board.encode(points, last))).ticks == (last - first) // codec.tick_ms
    assert board.encode(points, first) > board.encode(points, last)
    for outside in (first - 1, last + 1):
        with pytest.raises(ValueError, match="not within"):
            board.encode(points, outside)


@given(st.sampled_from(Window), st.data())
def test_sorting_scores_orders_by_points_then_earliest(window: Window, data: st.DataObject) -> None:
    codec = window.codec
    ticks = st.one_of(st.sampled_from([0, 1, codec.max_ticks - 1, codec.max_ticks]), st.integers(0, codec.max_ticks))
    entries = data.draw(st.lists(st.tuples(edge_points(codec), ticks), min_size=2, max_size=40))
    by_score = sorted(entries, key=lambda entry: float(codec.encode(*entry)), reverse=True)
    assert by_score == sorted(entries, key=lambda entry: (-entry[0], entry[1]))


@pytest.mark.parametrize("window", list(Window))
def test_every_period_fits_its_tick_field(window: Window) -> None:
    codec = window.codec
    assert codec.encode(codec.max_points, 0) < EXACT
    longest = {
        Window.DAILY: Board(Window.DAILY, "2026-12-31"),
        Window.WEEKLY: Board(Window.WEEKLY, "2026-W53"),
        Window.MONTHLY: Board(Window.MONTHLY, "2026-12"),  # 31 days
        Window.ALLTIME: Board(Window.ALLTIME, "all"),
    }[window]
    last_ticks = longest.ticks_at(last_instant(longest))
    assert last_ticks <= codec.max_ticks
    if window is Window.ALLTIME:
        assert last_ticks == codec.max_ticks, "the all-time board ends where its ticks run out"


@pytest.mark.parametrize("window", list(Window))
def test_refuses_values_that_would_lose_exactness(window: Window) -> None:
    codec = window.codec
    for points, ticks, limit in [
        (-1, 0, "points"),
        (codec.max_points + 1, 0, f"0..{codec.max_points}"),
        (1, -1, "ticks"),
        (1, codec.slots, f"0..{codec.max_ticks}"),
    ]:
        with pytest.raises(ValueError, match=limit):
            codec.encode(points, ticks)
    for score in (-1, EXACT, float(EXACT)):
        with pytest.raises(ValueError, match="score"):
            codec.decode(score)


# Boards written before windows existed hold these numbers: the monthly encoding must never change.
@pytest.mark.parametrize(
    ("points", "seconds", "score"),
    [
        (0, 0, 4_194_303),
        (1, 0, 8_388_607),
        (123_456, 1_000, 517_816_187_927),
        (2**31 - 1, 31 * 86_400 - 1, 9_007_199_252_062_592),
    ],
)
def test_monthly_scores_are_the_ones_existing_boards_hold(points: int, seconds: int, score: int) -> None:
    codec = Window.MONTHLY.codec
    assert codec is SECONDS and (codec.slots, codec.max_points) == (2**22, 2**31 - 1)
    assert codec.encode(points, seconds) == score
    assert (codec.decode(repr(float(score))).points, codec.decode(repr(float(score))).ticks) == (points, seconds)
    board = Board(Window.MONTHLY, "2026-12")
    assert board.encode(points, board.start_ms + seconds * 1000 + 999) == score


@pytest.mark.parametrize("window", list(Window))
def test_min_score_for_points_separates_totals(window: Window) -> None:
    codec = window.codec
    for points in (0, 1, 2, codec.max_points):
        lowest = codec.min_score_for_points(points)
        assert lowest == codec.encode(points, codec.max_ticks)
        assert codec.points_of(lowest) == points
        if points > 0:
            assert codec.encode(points - 1, 0) < lowest
    assert codec.min_score_for_points(codec.max_points + 1) == EXACT == float(EXACT)
    for beyond in (-1, codec.max_points + 2):
        with pytest.raises(ValueError, match="points"):
            codec.min_score_for_points(beyond)


@given(st.sampled_from(Window), st.data())
def test_competition_ranks_from_a_count_of_higher_scores_match_brute_force(window: Window, data: st.DataObject) -> None:
    codec = window.codec
    few_totals = st.sampled_from([0, 1, 2, 7, codec.max_points - 1, codec.max_points])
    ticks = st.one_of(st.sampled_from([0, codec.max_ticks]), st.integers(0, codec.max_ticks))
    entries = data.draw(st.lists(st.tuples(few_totals, ticks), min_size=1, max_size=30))
    scores = sorted((float(codec.encode(*entry)) for entry in entries), reverse=True)
    for score in scores:
        points = codec.points_of(score)
        # What ZCOUNT board min_score_for_points(points + 1) +inf returns, plus one.
        shared_rank = 1 + sum(1 for other in scores if other >= codec.min_score_for_points(points + 1))
        assert shared_rank == 1 + sum(1 for other_points, _ in entries if other_points > points)
        assert shared_rank == 1 + scores.index(next(s for s in scores if codec.points_of(s) == points))


def test_docs_table_states_each_windows_limits() -> None:
    limits_section = DOCS.read_text(encoding="utf-8").split("## Tie-breaks", 1)[1].split("\n## ", 1)[0]
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `(daily|weekly|monthly|alltime)` \|.*$", limits_section, re.MULTILINE)
    }
    assert set(rows) == set(Window)
    for window in Window:
        codec = window.codec
        assert f"{codec.max_points:,}" in rows[window]
        assert f"2^{codec.reached_bits}" in rows[window]
    assert "2083-10-18T16:31:59.999Z" in rows[Window.ALLTIME]
