"""The ground truth of a board, from the events alone: what each player should hold and how the board
should rank them, computed by brute force without shared/ (no codec, no rank or percentile function).

An event counts once per board (the first time its id reaches that board); a player's points are the
sum of their counted events' points, held at the board's largest total; "reached" is the latest tick
among the counted events up to the one that took the total to its final value.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class BoardTruth:
    largest_total: int
    points: dict[str, int] = field(default_factory=dict)
    reached: dict[str, int] = field(default_factory=dict)
    counted: set[bytes] = field(default_factory=set)

    def take(self, event_id: bytes, user: str, points: int, tick: int) -> None:
        if event_id in self.counted:
            return
        self.counted.add(event_id)
        before = self.points.get(user)
        if before is not None and before >= self.largest_total:
            return
        self.points[user] = min(self.largest_total, (before or 0) + points)
        self.reached[user] = max(self.reached.get(user, tick), tick)

    def order(self) -> list[str]:
        """Best first: more points, then the earlier tick; exact ties in descending member bytes, as Redis does."""
        by_member = sorted(self.points, key=lambda user: user.encode(), reverse=True)
        return sorted(by_member, key=lambda user: (-self.points[user], self.reached[user]))

    def ranks(self, *, shared: bool) -> dict[str, int]:
        order = self.order()
        if not shared:
            return {user: position for position, user in enumerate(order, start=1)}
        return {user: 1 + sum(self.points[other] > self.points[user] for other in order) for user in order}

    def top(self, offset: int, limit: int, *, shared: bool) -> list[tuple[int, str, int]]:
        ranks = self.ranks(shared=shared)
        return [(ranks[user], user, self.points[user]) for user in self.order()[offset : offset + limit]]

    def player(
        self, user: str, around: int, *, shared: bool
    ) -> tuple[int, int, int, float, list[tuple[int, str, int]]]:
        """(rank, points, players on the board, percentile, the neighbourhood as (rank, user, points))."""
        ranks = self.ranks(shared=shared)
        order = self.order()
        index = order.index(user)
        at_or_below = sum(1 for other in order if ranks[other] >= ranks[user])
        percentile = round(100 * at_or_below / len(order), 2)
        first = max(0, index - around)
        neighbourhood = [(ranks[other], other, self.points[other]) for other in order[first : index + around + 1]]
        return ranks[user], self.points[user], len(order), percentile, neighbourhood
