"""The board store as a model: boards in memory, written and read with the same rules as Redis.

`ReferenceBoards` implements both store ports, `BoardWriter` (shared.application.apply) and
`BoardReader` (shared.application.queries), with nothing but dictionaries:

- a player's score changes by ScoreCodec.add, the rule apply_scores.lua runs in Redis;
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

    def apply(self, partition: str, pending: Iterable[PendingScore]) -> ApplyResult:
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
                (redelivered if score.event_id in remembered else unverified).append(score.offset)
                continue
            if score.event_id in remembered:
                duplicates.append(score.offset)
                continue
            remembered.add(score.event_id)
            change = self.board.codec.add(self.scores.get(score.user_id), score.points, score.reached_tick)
            if change.changed:
                self.scores[score.user_id] = change.score
            applied += 1
            capped += change.capped
        self.watermarks[partition] = highest
        return ApplyResult(
            applied,
            redelivered=tuple(redelivered),
            duplicates=tuple(duplicates),
            unverified=tuple(unverified),
            capped=capped,
        )

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
