"""Sharper checks on shared.domain.board_changes: the report's wire format, its exact errors, the
player bound at its edge, and merging with "any player"."""

from __future__ import annotations

import orjson
import pytest

from shared.domain.board_changes import (
    MAX_PLAYERS_PER_BOARD,
    REPORT_VERSION,
    BoardChange,
    InvalidChangeReport,
    bounded_players,
    decode_changes,
    encode_changes,
    merge_changes,
)
from shared.domain.boards import Window

pytestmark = pytest.mark.unit

DAY = Window.DAILY.parse_period("2026-12-02")


def test_a_report_carries_its_version_and_lists_players_sorted() -> None:
    document = orjson.loads(encode_changes({DAY: {"bob", "ann"}}, 42))
    assert document == {
        "v": REPORT_VERSION,
        "applied_at_ms": 42,
        "boards": [{"window": "daily", "period": "2026-12-02", "players": ["ann", "bob"]}],
    }


def test_exactly_the_bound_of_players_is_still_listed() -> None:
    players = {f"p{n}" for n in range(MAX_PLAYERS_PER_BOARD)}
    assert bounded_players(players) == frozenset(players)
    assert bounded_players({*players, "one-more"}) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"applied_at_ms": "1", "boards": []}', "applied_at_ms must be an integer"),
        (
            b'{"applied_at_ms": 1, "boards": [{"window": "daily", "period": "2026-12-02", "players": [1]}]}',
            "not a change report: players must be strings",
        ),
        (b'{"boards": []}', "not a change report: 'applied_at_ms'"),
    ],
)
def test_a_bad_report_is_refused_with_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidChangeReport) as refused:
        decode_changes(raw)
    assert str(refused.value) == message


@pytest.mark.parametrize("any_first", [True, False])
def test_any_player_wins_a_merge_whichever_comes_first(any_first: bool) -> None:
    changes = [BoardChange(DAY, None), BoardChange(DAY, frozenset({"ann"}))]
    if not any_first:
        changes.reverse()
    assert merge_changes(changes) == [BoardChange(DAY, None)]
