"""One sorted-set score carries a player's points and when they reached them, per window.

    score = points * 2**R + (2**R - 1 - ticks)

`ticks` counts whole ticks from the board's origin to the moment the player reached their
total. Higher points sort first; for equal points the earlier tick leaves the larger remainder
and so sorts first under ZREVRANGE. Every score stays below 2**53, so a Redis double holds it
exactly; that caps points at 2**(53 - R) - 1.

| window  | origin              | tick  | tick field | largest total points | latest instant representable |
|---------|---------------------|-------|------------|----------------------|------------------------------|
| daily   | the day's start     | 1 s   | 2**22      | 2,147,483,647        | every instant of the day     |
| weekly  | the week's start    | 1 s   | 2**22      | 2,147,483,647        | every instant of the week    |
| monthly | the month's start   | 1 s   | 2**22      | 2,147,483,647        | every instant of the month   |
| alltime | 2020-01-01T00:00Z   | 1 min | 2**25      | 268,435,455          | 2083-10-18T16:31:59.999Z     |

The monthly encoding is the one boards were written with before windows existed, so those
boards decode unchanged. docs/BOARDS.md says why all-time counts minutes. Values outside these
limits are refused, never wrapped.

ScoreCodec.add is the rule an applied event follows (shared/adapters/lua/apply_scores.lua runs the
same rule inside Redis; tests/integration/test_score_model.py holds the two to each other): the
points add up and stop at the largest total; "reached" is the latest tick among the events that
changed the total, so a player held at the largest total keeps the instant they got there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXACT_BITS = 53  # the integers a double holds exactly


@dataclass(frozen=True, slots=True)
class DecodedScore:
    points: int
    ticks: int


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """What one applied event does to a player's score."""

    score: int
    """The player's score afterwards (the old one when unchanged)."""
    changed: bool
    """False when the total did not move (held at the largest total): the score is not written."""
    capped: bool
    """The event's points were cut at the largest total."""


@dataclass(frozen=True, slots=True)
class ScoreCodec:
    reached_bits: int
    tick_ms: int
    slots: int = field(init=False, repr=False)  # 2**R
    max_ticks: int = field(init=False, repr=False)
    max_points: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", 1 << self.reached_bits)
        object.__setattr__(self, "max_ticks", self.slots - 1)
        object.__setattr__(self, "max_points", (1 << (EXACT_BITS - self.reached_bits)) - 1)

    def encode(self, points: int, ticks: int) -> int:
        if not 0 <= points <= self.max_points:
            raise ValueError(f"points must be within 0..{self.max_points}, got {points}")
        if not 0 <= ticks <= self.max_ticks:
            raise ValueError(f"ticks must be within 0..{self.max_ticks}, got {ticks}")
        return points * self.slots + (self.max_ticks - ticks)

    def decode(self, score: float | int | str | bytes) -> DecodedScore:
        points, remainder = divmod(self._integer(score), self.slots)
        return DecodedScore(points=points, ticks=self.max_ticks - remainder)

    def add(self, old_score: int | None, points: int, ticks: int) -> ScoreChange:
        """The score after an event of `points` reached at `ticks`; `old_score` None: the player's first."""
        total = points if old_score is None else self.decode(old_score).points + points
        capped = total > self.max_points
        total = min(total, self.max_points)
        if old_score is None:
            return ScoreChange(self.encode(total, ticks), changed=True, capped=capped)
        old = self.decode(old_score)
        if total == old.points:
            return ScoreChange(old_score, changed=False, capped=capped)
        return ScoreChange(self.encode(total, max(old.ticks, ticks)), changed=True, capped=capped)

    def points_of(self, score: float | int | str | bytes) -> int:
        return self._integer(score) >> self.reached_bits

    def min_score_for_points(self, points: int) -> int:
        """The lowest score holding `points`. ZCOUNT over [min_score_for_points(p + 1), +inf]
        counts the players with strictly more than p points; p + 1 may be max_points + 1."""
        if not 0 <= points <= self.max_points + 1:
            raise ValueError(f"points must be within 0..{self.max_points + 1}, got {points}")
        return points * self.slots

    def _integer(self, score: float | int | str | bytes) -> int:
        value = int(float(score))
        if not 0 <= value < 1 << EXACT_BITS:
            raise ValueError(f"score must be within 0..2**{EXACT_BITS} - 1, got {score!r}")
        return value


SECONDS = ScoreCodec(reached_bits=22, tick_ms=1000)
ALLTIME_MINUTES = ScoreCodec(reached_bits=25, tick_ms=60_000)
