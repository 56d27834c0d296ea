"""The board store as a model: boards in memory, written and read with the same rules as Redis.

`ReferenceBoards` implements both store ports, `BoardWriter` (shared.application.apply) and
`BoardReader` (shared.application.queries), with nothing but dictionaries:

- a player's score changes by ScoreCodec.add, the rule apply_scores.lua runs in Redis;
- each record's tag (shared.application.moderation_apply) says where it goes: a score to the board
  or to its hidden set, a ban or unban moves the player's entry between them (added by the same
  rule), a reset removes both. Actions alone write nothing to a board that holds no one (shown or
  hidden), and an action at or below the watermark that the board does not remember is redelivered;
- per (board, partition), a record above the watermark applies unless the board remembers its event
  (then it is a duplicate); at or below it, a remembered event is redelivered, any other record is
  skipped as unverified. Restarted offsets, forgetting event ids after the remembering window and
  board retention are not modelled: the model never forgets and never expires;
- a board is read in Redis's ZREVRANGE order: score descending, then member bytes descending.

Ranks, shared ranks and percentiles are not computed here: read the model through
LeaderboardQueries, which owns those rules. tests/integration/test_score_model.py holds the Redis
store to this model, step by step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shared.application.apply import ApplyResult, PendingScore
from shared.application.moderation_apply import BAN, HIDDEN_SCORE, RESET, SCORE, UNBAN
from shared.application.queries import BoardSlice, Entry, PlayerSlice
from shared.domain.boards import Board


@dataclass
class ReferenceBoard:
    board: Board
    scores: dict[str, int] = field(default_factory=dict)
    """user id -> encoded score, as the board's sorted set holds it."""
    watermarks: dict[str, int] = field(default_factory=dict)
    """partition -> the highest offset this board took from it."""
    remembered: dict[str, set[bytes]] = field(default_factory=dict)
    """partition -> the event ids this board applied from it."""
    hidden: dict[str, int] = field(default_factory=dict)
    """user id -> encoded score, as the board's hidden set holds it (banned players)."""

    def apply(self, partition: str, pending: Iterable[PendingScore]) -> ApplyResult:
        pending = list(pending)
        holds_no_one = not self.scores and not self.hidden
        if holds_no_one and pending and all(score.tag not in (SCORE, HIDDEN_SCORE) for score in pending):
            return ApplyResult(0)
        upto = self.watermarks.get(partition, -1)
        remembered = self.remembered.setdefault(partition, set())
        applied = capped = 0
        redelivered: list[int] = []
        duplicates: list[int] = []
        unverified: list[int] = []
        highest = upto
        for score in pending:
            highest = max(highest, score.offset)
            if score.offset <= upto:
                is_action = score.tag not in (SCORE, HIDDEN_SCORE)
                (redelivered if score.event_id in remembered or is_action else unverified).append(score.offset)
                continue
            if score.event_id in remembered:
                duplicates.append(score.offset)
                continue
            remembered.add(score.event_id)
            applied += 1
            user = score.user_id
            if score.tag == SCORE:
                capped += self._add(self.scores, user, score.points, score.reached_tick)
            elif score.tag == HIDDEN_SCORE:
                capped += self._add(self.hidden, user, score.points, score.reached_tick)
            elif score.tag == BAN:
                capped += self._move(self.scores, self.hidden, user)
            elif score.tag == UNBAN:
                capped += self._move(self.hidden, self.scores, user)
            elif score.tag == RESET:
                self.scores.pop(user, None)
                self.hidden.pop(user, None)
            else:
                raise ValueError(f"unknown record tag {score.tag!r}")
        self.watermarks[partition] = highest
        return ApplyResult(
            applied,
            redelivered=tuple(redelivered),
            duplicates=tuple(duplicates),
            unverified=tuple(unverified),
            capped=capped,
        )

    def _add(self, entries: dict[str, int], user: str, points: int, tick: int) -> int:
        change = self.board.codec.add(entries.get(user), points, tick)
        if change.changed:
            entries[user] = change.score
        return int(change.capped)

    def _move(self, source: dict[str, int], target: dict[str, int], user: str) -> int:
        if user not in source:
            return 0
        held = self.board.codec.decode(source.pop(user))
        return self._add(target, user, held.points, held.ticks)

    def ordered(self) -> list[str]:
        """The players, best first."""
        return sorted(self.scores, key=lambda user: (self.scores[user], user.encode()), reverse=True)

    def slice(self, first: int, last: int, *, count_ahead: bool) -> BoardSlice:
        """Positions first..last (0-based, inclusive) of the board, as the read scripts return them."""
        order = self.ordered()
        entries = tuple(Entry(user, self.board.codec.points_of(self.scores[user])) for user in order[first : last + 1])
        ahead = None
        if count_ahead and entries:
            ahead = sum(1 for user in order if self.board.codec.points_of(self.scores[user]) > entries[0].points)
        return BoardSlice(total=len(order), first_index=first, entries=entries, players_ahead=ahead)


class ReferenceBoards:
    """Every board of the model, through the store ports."""

    def __init__(self) -> None:
        self.boards: dict[Board, ReferenceBoard] = {}

    def of(self, board: Board) -> ReferenceBoard:
        return self.boards.setdefault(board, ReferenceBoard(board))

    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        return self.of(board).apply(partition, scores)

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        return self.of(board).slice(offset, offset + limit - 1, count_ahead=count_ahead)

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        model = self.of(board)
        if user_id not in model.scores:
            return None
        index = model.ordered().index(user_id)
        first = max(0, index - neighbours)
        return PlayerSlice(index=index, neighbourhood=model.slice(first, index + neighbours, count_ahead=count_ahead))

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        return {board for board in boards if board in self.boards and self.boards[board].scores}
