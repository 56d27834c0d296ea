"""The score rule (ScoreCodec.add) and the reference board store, against hand-worked cases and a
brute-force ranking (tests/support/standings_truth.py). The same model is held to the Redis store
by tests/integration/test_score_model.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.application.apply import PendingScore
from shared.application.queries import LeaderboardQueries, Ties
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Board, Window
from shared.domain.events import event_id_for
from shared.domain.score_codec import ALLTIME_MINUTES, SECONDS, ScoreChange, ScoreCodec
from tests.support.standings_truth import BoardTruth

CAP = SECONDS.max_points
MONTH = Window.MONTHLY.parse_period("2019-05")
ALLTIME = Window.ALLTIME.parse_period("all")
PARTITION = "cluster/score-events-0"


def test_a_first_event_sets_points_and_its_tick() -> None:
    assert SECONDS.add(None, 5, 7) == ScoreChange(SECONDS.encode(5, 7), changed=True, capped=False)


def test_points_add_up_and_the_latest_tick_is_kept_whatever_the_order() -> None:
    later_first = SECONDS.add(SECONDS.encode(5, 9), 2, 3)
    assert SECONDS.decode(later_first.score) == SECONDS.decode(SECONDS.encode(7, 9))
    earlier_first = SECONDS.add(SECONDS.encode(5, 3), 2, 9)
    assert SECONDS.decode(earlier_first.score) == SECONDS.decode(SECONDS.encode(7, 9))


@pytest.mark.parametrize("codec", [SECONDS, ALLTIME_MINUTES])
def test_the_total_stops_at_the_codecs_largest(codec: ScoreCodec) -> None:
    first = codec.add(None, codec.max_points + 5, 4)
    assert (codec.decode(first.score).points, first.capped) == (codec.max_points, True)
    summed = codec.add(codec.encode(codec.max_points - 1, 4), 3, 6)
    assert (codec.decode(summed.score).points, codec.decode(summed.score).ticks, summed.capped) == (
        codec.max_points,
        6,
        True,
    )
    exact = codec.add(codec.encode(codec.max_points - 3, 4), 3, 6)
    assert (codec.decode(exact.score).points, exact.capped) == (codec.max_points, False)


def test_a_player_held_at_the_largest_total_keeps_the_instant_they_got_there() -> None:
    at_cap = SECONDS.encode(CAP, 10)
    assert SECONDS.add(at_cap, 4, 99) == ScoreChange(at_cap, changed=False, capped=True)


def pending(offset: int, match: str, user: str, points: int = 1, tick: int = 0) -> PendingScore:
    return PendingScore(offset, bytes.fromhex(event_id_for(match, user)), user, points, tick, 0)


def test_the_reference_skips_redeliveries_and_duplicates_as_the_apply_script_does() -> None:
    store = ReferenceBoards()
    first = store.apply(MONTH, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (first.applied, first.skipped) == (2, 0)
    again = store.apply(MONTH, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (again.applied, again.redelivered) == (0, (10, 11))
    retried = store.apply(MONTH, PARTITION, [pending(12, "m1", "ann", 3), pending(13, "m3", "ann", 1)])
    assert (retried.applied, retried.duplicates) == (1, (12,))
    below_unknown = store.apply(MONTH, PARTITION, [pending(5, "m9", "cat")])
    assert (below_unknown.applied, below_unknown.unverified) == (0, (5,))
    other_partition = store.apply(MONTH, "cluster/score-events-1", [pending(0, "m1", "ann", 3)])
    assert other_partition.applied == 1, "event ids are remembered per (board, partition)"
    assert {user: MONTH.codec.points_of(score) for user, score in store.of(MONTH).scores.items()} == {
        "ann": 7,
        "bob": 2,
    }


def test_the_reference_reports_capped_records() -> None:
    store = ReferenceBoards()
    result = store.apply(
        ALLTIME, PARTITION, [pending(0, "m1", "ann", ALLTIME.codec.max_points), pending(1, "m2", "ann")]
    )
    assert (result.applied, result.capped) == (2, 1)


USERS = ["ann", "bob", "cat", "dan", "eve", "Zoë"]
events = st.lists(
    st.tuples(
        st.sampled_from(USERS),
        st.integers(0, 30),  # match: the same (match, user) again is the same event
        st.one_of(st.integers(1, 4), st.sampled_from([CAP // 2, CAP - 1, CAP])),
        st.integers(0, 3),  # few ticks: ties within one second
    ),
    min_size=1,
    max_size=40,
)


def read_model(board: Board, scored: list[tuple[str, int, int, int]]) -> tuple[LeaderboardQueries, BoardTruth]:
    store, truth = ReferenceBoards(), BoardTruth(board.codec.max_points)
    for offset, (user, match, points, tick) in enumerate(scored):
        score = pending(offset, f"m{match}", user, points, tick)
        store.apply(board, PARTITION, [score])
        truth.take(score.event_id, user, points, tick)
    return LeaderboardQueries(store, (board.window,), clock=lambda: board.start_ms), truth


@settings(max_examples=150, deadline=None)
@given(events, st.integers(0, 7), st.integers(1, 4), st.integers(0, 3), st.sampled_from(Ties))
def test_the_reference_read_through_the_queries_matches_a_brute_force_ranking(
    scored: list[tuple[str, int, int, int]], offset: int, limit: int, around: int, ties: Ties
) -> None:
    queries, truth = read_model(MONTH, scored)
    shared = ties is Ties.SHARED
    page = queries.top(MONTH, offset=offset, limit=limit, ties=ties)
    assert page.total == len(truth.points)
    assert [(s.rank, s.user_id, s.points) for s in page.entries] == truth.top(offset, limit, shared=shared)
    for user in USERS:
        found = queries.player(MONTH, user, around=around, ties=ties)
        if user not in truth.points:
            assert found is None
            continue
        assert found is not None
        rank, points, total, percentile, neighbourhood = truth.player(user, around, shared=shared)
        assert (found.standing.rank, found.standing.points, found.total, found.percentile) == (
            rank,
            points,
            total,
            percentile,
        )
        assert [(s.rank, s.user_id, s.points) for s in found.around] == neighbourhood


def test_percentiles_follow_the_rank_from_the_top_down() -> None:
    """Five players, distinct points: the leader is at 100, the last at 20."""
    queries, truth = read_model(MONTH, [(user, 0, 10 - number, 0) for number, user in enumerate(USERS[:5])])
    percentiles = {user: queries.player(MONTH, user, around=0) for user in USERS[:5]}
    assert {user: found.percentile for user, found in percentiles.items() if found} == {
        "ann": 100.0,
        "bob": 80.0,
        "cat": 60.0,
        "dan": 40.0,
        "eve": 20.0,
    }
    assert truth.player("eve", 0, shared=False)[3] == 20.0
