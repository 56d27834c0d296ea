"""The reshard command's pure parts (shared/application/reshard.py, shared.domain.sharding): the split
of a chunk by home shard, the watermarks every new shard starts with, the copy's resumable order,
and the layout changes it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.application.reshard import LayoutPart, carried_watermarks, copy_steps, partitions_of
from shared.domain.sharding import MAX_BOARD_SHARDS, check_reshard, home_shard, split_by_home_shard

pytestmark = pytest.mark.unit


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=8), st.integers(0, 2**53)), max_size=60, unique_by=lambda p: p[0]),
    st.integers(1, 40),
)
def test_a_chunk_splits_into_each_players_home_shard_in_order(members: list[tuple[str, int]], shards: int) -> None:
    by_shard = split_by_home_shard(members, shards)
    assert sorted(pair for piece in by_shard.values() for pair in piece) == sorted(members)
    for shard, piece in by_shard.items():
        assert piece and all(home_shard(user, shards) == shard for user, _ in piece)
        assert piece == [pair for pair in members if home_shard(pair[0], shards) == shard]


def test_one_shard_takes_everyone() -> None:
    assert split_by_home_shard([("a", 1), ("b", 2)], 1) == {0: [("a", 1), ("b", 2)]}


def test_a_new_shard_starts_at_the_lowest_offset_and_the_newest_time() -> None:
    old = [
        {"c/t-0": "120", "c/t-0@ts": "5000", "c/t-1": "40", "c/t-1@ts": "900"},
        {"c/t-0": "97", "c/t-0@ts": "5200", "c/t-1": "44", "c/t-1@ts": "800"},
        {"c/t-0": "130", "c/t-0@ts": "4000"},
    ]
    # c/t-1: the third shard never took a record of it, so any offset there may be unapplied in it.
    assert carried_watermarks(old) == {"c/t-0": "97", "c/t-0@ts": "5200", "c/t-1@ts": "900"}
    assert partitions_of(old) == ["c/t-0", "c/t-1"]
    assert carried_watermarks([{}, {}]) == {}


@given(st.lists(st.dictionaries(st.sampled_from(["p0", "p1"]), st.integers(-1, 10**6)), min_size=1, max_size=8))
def test_no_offset_above_an_old_shards_watermark_is_carried(per_shard: list[dict[str, int]]) -> None:
    carried = carried_watermarks([{name: str(offset) for name, offset in fields.items()} for fields in per_shard])
    for name, offset in carried.items():
        assert all(int(offset) <= fields.get(name, -1) for fields in per_shard)
        assert any(int(offset) == fields.get(name) for fields in per_shard)


def test_the_copy_reads_every_source_once_in_a_fixed_order() -> None:
    steps = copy_steps(3, ["p0", "p1"])
    assert len(steps) == len(set(steps)) == 3 * 2 + 3 * 2
    assert [(step.part, step.shard) for step in steps[:6]] == [
        (part, shard) for part in (LayoutPart.BOARD, LayoutPart.HIDDEN) for shard in range(3)
    ]
    assert [(step.partition, step.shard) for step in steps[6:]] == [(p, s) for p in ("p0", "p1") for s in range(3)]
    assert steps == copy_steps(3, ["p0", "p1"])


@pytest.mark.parametrize(
    ("from_shards", "to_shards", "message"),
    [
        (16, 16, "both 16"),
        (1, 1, "both 1"),
        (0, 4, "from_shards must be 1"),
        (4, MAX_BOARD_SHARDS + 1, "to_shards must be 1"),
    ],
)
def test_a_layout_change_that_changes_nothing_or_is_out_of_bounds_is_refused(
    from_shards: int, to_shards: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        check_reshard(from_shards, to_shards)


@pytest.mark.parametrize(("from_shards", "to_shards"), [(1, 4), (4, 8), (8, 1), (16, MAX_BOARD_SHARDS)])
def test_a_real_layout_change_is_allowed(from_shards: int, to_shards: int) -> None:
    check_reshard(from_shards, to_shards)
