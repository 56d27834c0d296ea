"""The updater's side of moderation: which boards an action touches, and who is banned while a batch runs.

A moderation action travels on the score topic in its player's partition, so the updater meets it
in order with that player's scores. Each record sent to a board carries a tag the apply script
acts on (shared/adapters/lua/apply_scores.lua):

- SCORE: points added to the player's entry on the board, as always;
- HIDDEN_SCORE: points added to the player's entry in the board's hidden set (a banned player's);
- BAN / UNBAN: the player's entry moved from the board to its hidden set, or back;
- RESET: the player's entries (shown and hidden) removed from the board.

Whether a score is hidden is decided here, in Python, from who is banned: a ban in force when the
score was received hides it. Who is banned is kept in Redis (the ModerationStateStore port), read
once per batch for the batch's players, then followed in memory as the batch's actions go by.
The apply script never reads it: in Redis Cluster it lives in another slot than the boards.
See docs/MODERATION.md.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Protocol

from shared.domain.boards import DAY_MS, Board, BoardSchedule, InvalidPeriod, Window
from shared.domain.moderation import ModerationAction, ModerationKind
from shared.domain.record_codec import PoisonRecord

# The tags the apply script reads, one character each.
SCORE = "s"
HIDDEN_SCORE = "h"
BAN = "b"
UNBAN = "u"
RESET = "r"
ACTION_TAGS = {ModerationKind.BAN: BAN, ModerationKind.UNBAN: UNBAN, ModerationKind.RESET: RESET}

# A window whose boards are kept for ever (retention 0, the monthly default) has its periods
# moderated this far back: twenty years of months, as far back as the longest grace takes scores.
MAX_PERIODS_MODERATED = 240
# Ingest takes instants a little ahead of its clock, so a board of the next period may already
# hold the player when the ban is received.
AHEAD_MS = DAY_MS

NOT_BANNED = None
WITHOUT_END = 0  # the stored `until` of a ban that lasts until lifted


def ban_hides(until_ms: int, at_ms: int | None) -> bool:
    """Whether a stored ban (its `until`, 0: without end) hides a score received at `at_ms`.

    The rule of shared.domain.moderation.ban_in_force, on the stored form. A score whose receipt
    time is unknown (a record from before ingest stamped it, without a Kafka timestamp) is hidden.
    """
    return until_ms == WITHOUT_END or at_ms is None or at_ms < until_ms


def moderated_boards(schedule: BoardSchedule, action: ModerationAction) -> list[Board]:
    """The boards an action is sent to, or PoisonRecord for a reset naming no board there can be.

    A reset: its one board, or none when its window is not enabled here. A ban or unban: per
    enabled window, the period holding the action's instant (and the next, see AHEAD_MS) and every
    earlier one not yet expired at that instant (BoardSchedule.expires_at_ms), at most
    MAX_PERIODS_MODERATED; the all-time board. Boards that do not exist cost one cheap call each:
    the apply script writes nothing to them. The list depends on the action alone, so a replay
    sends it to the same boards.
    """
    if action.kind is ModerationKind.RESET:
        return _reset_board(schedule, action)
    at = action.received_at_ms
    boards: list[Board] = []
    for window in schedule.windows:
        board: Board | None
        try:
            board = window.board_at(at + AHEAD_MS)
        except ValueError:
            try:
                board = window.board_at(at)
            except ValueError:
                continue
        periods = 0
        while board is not None and periods < MAX_PERIODS_MODERATED:
            expires = schedule.expires_at_ms(board)
            if expires is not None and expires <= at:
                break
            boards.append(board)
            periods += 1
            board = board.previous()
    return boards


def _reset_board(schedule: BoardSchedule, action: ModerationAction) -> list[Board]:
    try:
        window = Window(action.window or "")
        board = window.parse_period(action.period or "")
    except (ValueError, InvalidPeriod):
        raise PoisonRecord(
            f"a reset names a board that cannot exist: window {action.window!r}, period {action.period!r}"
        ) from None
    return [board] if window in schedule.windows else []


class ModerationStateStore(Protocol):
    """Who is banned, as the updater last settled it: user id -> the ban's `until` (0: without end)."""

    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        """The banned among `players`, with their bans' ends; one read."""
        ...

    def every_ban(self, at_most: int) -> dict[str, int] | None:
        """Every banned player with their ban's end when there are at most `at_most` (and all can be
        read as bans), else None: the bans are then read player by player."""
        ...

    def record(self, states: Mapping[str, int | None]) -> None:
        """Write each player's state: a ban's `until` (0: without end), or None when not banned."""
        ...


class InMemoryModerationState:
    """The state in a dictionary: for tests, the model, and updaters built without Redis."""

    def __init__(self) -> None:
        self.banned: dict[str, int] = {}
        self.reads = 0

    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        self.reads += 1
        return {player: self.banned[player] for player in players if player in self.banned}

    def every_ban(self, at_most: int) -> dict[str, int] | None:
        self.reads += 1
        return dict(self.banned) if len(self.banned) <= at_most else None

    def record(self, states: Mapping[str, int | None]) -> None:
        for player, until in states.items():
            if until is None:
                self.banned.pop(player, None)
            else:
                self.banned[player] = until


class BanBook:
    """Who is banned while one batch is applied.

    Read once from the store: every ban when there are no more than the batch has records (usually
    there are few or none), else the bans of the batch's players (its records' Kafka keys), and then
    a player met that was not among them (a record without its key) is read on its own, once. Each action submitted
    updates the book at once, so the records after it in its partition are tagged by it; the store
    is written only for the actions settled (`settled_states`), so a redelivery starts from the
    state its first record saw.
    """

    def __init__(
        self,
        store: ModerationStateStore,
        players: Iterable[str] | Callable[[], Iterable[str]] = (),
        *,
        records: int = 0,
    ) -> None:
        """`players` may be a function: it is called only when the bans are read player by player."""
        self._store = store
        every = store.every_ban(records) if records else None
        # complete: `banned` holds every ban, so a player missing from it is not banned.
        self.complete = every is not None
        if every is not None:
            self.known: set[str] = set()
            self.banned: dict[str, int] = every
        else:
            self.known = set(players() if callable(players) else players)
            self.banned = store.banned_until(self.known) if self.known else {}
        self._changes: dict[str, list[tuple[int, str, int | None]]] = {}  # partition -> (offset, user, state)

    def learn(self, player: str) -> None:
        self.known.add(player)
        self.banned.update(self._store.banned_until((player,)))

    def hides(self, player: str, received_at_ms: int | None) -> bool:
        if not self.complete and player not in self.known:
            self.learn(player)
        until = self.banned.get(player)
        return until is not None and ban_hides(until, received_at_ms)

    def take(self, partition: str, offset: int, action: ModerationAction) -> None:
        """Follow an action (in its partition's order)."""
        player = action.user_id
        if not self.complete and player not in self.known:
            self.learn(player)
        if action.kind is ModerationKind.BAN:
            state: int | None = WITHOUT_END if action.until_ms is None else action.until_ms
            self.banned[player] = WITHOUT_END if action.until_ms is None else action.until_ms
        elif action.kind is ModerationKind.UNBAN:
            state = NOT_BANNED
            self.banned.pop(player, None)
        else:
            return
        self._changes.setdefault(partition, []).append((offset, player, state))

    def first_change(self, partition: str) -> int | None:
        changes = self._changes.get(partition)
        return changes[0][0] if changes else None

    def settled_states(self, failed_from: Mapping[str, int | None]) -> dict[str, dict[str, int | None]]:
        """Per partition, each player's state after the partition's actions below its failure."""
        states: dict[str, dict[str, int | None]] = {}
        for partition, changes in self._changes.items():
            limit = failed_from.get(partition)
            settled = {user: state for offset, user, state in changes if limit is None or offset < limit}
            if settled:
                states[partition] = settled
        return states

    def persist(self, states: Mapping[str, int | None]) -> None:
        self._store.record(states)
