"""shared/domain/score_codec.py where `make mutation` found it untested: a codec's sizes follow from its
tick bits (the module's own codecs are built at import, before any test runs)."""

from __future__ import annotations

import pytest

from shared.domain.score_codec import EXACT_BITS, ScoreCodec


def test_a_codecs_slots_ticks_and_largest_total_follow_from_its_tick_bits() -> None:
    codec = ScoreCodec(reached_bits=4, tick_ms=1000)
    assert (codec.slots, codec.max_ticks, codec.max_points) == (16, 15, 2 ** (EXACT_BITS - 4) - 1)
    assert codec.encode(codec.max_points, 0) == 2**EXACT_BITS - 1


def test_the_lowest_score_of_a_total_goes_one_past_the_largest_total() -> None:
    codec = ScoreCodec(reached_bits=4, tick_ms=1000)
    assert codec.min_score_for_points(codec.max_points + 1) == 2**EXACT_BITS
    with pytest.raises(ValueError) as beyond:
        codec.min_score_for_points(codec.max_points + 2)
    assert str(beyond.value) == f"points must be within 0..{codec.max_points + 1}, got {codec.max_points + 2}"
