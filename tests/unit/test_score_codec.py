from hypothesis import given
from hypothesis import strategies as st

from shared.domain.month_codec import MAX_TOTAL_POINTS, REACHED_SLOTS, decode_score, encode_score

points = st.integers(min_value=0, max_value=MAX_TOTAL_POINTS)
seconds = st.integers(min_value=0, max_value=31 * 86_400)


@given(points, seconds)
def test_round_trips_through_a_redis_double(p: int, s: int) -> None:
    score = encode_score(p, s)
    assert float(score) == score, "must be exactly representable as a double"
    as_redis_returns_it = repr(float(score))
    decoded = decode_score(as_redis_returns_it)
    assert (decoded.points, decoded.reached_second) == (p, s)


@given(points, seconds, points, seconds)
def test_orders_by_points_then_earliest_reached(p1: int, s1: int, p2: int, s2: int) -> None:
    a, b = encode_score(p1, s1), encode_score(p2, s2)
    if p1 != p2:
        assert (a > b) == (p1 > p2)
    elif s1 != s2:
        assert (a > b) == (s1 < s2)
    else:
        assert a == b


def test_a_month_fits_in_the_reached_field() -> None:
    assert REACHED_SLOTS > 31 * 86_400
    assert encode_score(MAX_TOTAL_POINTS, 0) < 2**53


def test_rejects_values_that_would_lose_exactness() -> None:
    for bad in [(-1, 0), (MAX_TOTAL_POINTS + 1, 0), (1, REACHED_SLOTS), (1, -1)]:
        try:
            encode_score(*bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad}")
