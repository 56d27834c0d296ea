"""What the updater reports after a batch: which boards changed, and which players' points did.

One report per updater invocation, kept under SQS's 256 KiB message limit: at most
MAX_PLAYERS_PER_BOARD player ids per board (ids are at most 128 characters, 4 bytes each in UTF-8
at worst), beyond which the report says "any player" (None) and the notifier rereads them all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import orjson

from shared.domain.boards import Board, Window

MAX_PLAYERS_PER_BOARD = 100
REPORT_VERSION = 1


class InvalidChangeReport(ValueError):
    """A report that is not JSON of the expected shape."""


@dataclass(frozen=True, slots=True)
class BoardChange:
    board: Board
    players: frozenset[str] | None  # None: more than MAX_PLAYERS_PER_BOARD, any player may have moved


def bounded_players(players: Iterable[str] | None) -> frozenset[str] | None:
    if players is None:
        return None
    kept = frozenset(players)
    return kept if len(kept) <= MAX_PLAYERS_PER_BOARD else None


def encode_changes(changes: Mapping[Board, Iterable[str] | None], applied_at_ms: int) -> bytes:
    boards = []
    for board, players in changes.items():
        bounded = bounded_players(players)
        boards.append(
            {
                "window": board.window.value,
                "period": board.period,
                "players": None if bounded is None else sorted(bounded),
            }
        )
    return orjson.dumps({"v": REPORT_VERSION, "applied_at_ms": applied_at_ms, "boards": boards})


def decode_changes(raw: str | bytes) -> tuple[list[BoardChange], int]:
    """The changes of one report and when they were applied (epoch ms)."""
    try:
        document = orjson.loads(raw)
        applied_at = document["applied_at_ms"]
        changes = []
        for item in document["boards"]:
            players = item["players"]
            if players is not None and not all(isinstance(player, str) for player in players):
                raise InvalidChangeReport("players must be strings")
            board = Window(item["window"]).parse_period(item["period"])
            changes.append(BoardChange(board, bounded_players(players)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InvalidChangeReport(f"not a change report: {error}") from None
    if type(applied_at) is not int:
        raise InvalidChangeReport("applied_at_ms must be an integer")
    return changes, applied_at


def merge_changes(changes: Iterable[BoardChange]) -> list[BoardChange]:
    """One change per board: the union of their players (None wins)."""
    merged: dict[Board, frozenset[str] | None] = {}
    for change in changes:
        if change.board not in merged:
            merged[change.board] = change.players
            continue
        known = merged[change.board]
        merged[change.board] = (
            None if known is None or change.players is None else bounded_players(known | change.players)
        )
    return [BoardChange(board, players) for board, players in merged.items()]
