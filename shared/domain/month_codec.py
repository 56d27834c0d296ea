"""One sorted-set score carries a player's points and when they reached them.

score = points * 2**22 + (2**22 - 1 - seconds since the period started)

Higher points sort first; for equal points the earlier "reached" second gets the larger
remainder and so sorts first under ZREVRANGE. A month has at most 2,678,400 seconds
(< 2**22), and points stay below 2**31, so every score is an integer below 2**53 that a
Redis double holds exactly. The apply Lua script receives REACHED_SLOTS from here rather
than hard-coding it.
"""

from __future__ import annotations

from dataclasses import dataclass

REACHED_BITS = 22
REACHED_SLOTS = 1 << REACHED_BITS
MAX_TOTAL_POINTS = (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class DecodedScore:
    points: int
    reached_second: int


def encode_score(points: int, reached_second: int) -> int:
    if not 0 <= points <= MAX_TOTAL_POINTS:
        raise ValueError(f"points must be within 0..{MAX_TOTAL_POINTS}, got {points}")
    if not 0 <= reached_second < REACHED_SLOTS:
        raise ValueError(f"reached_second must be within 0..{REACHED_SLOTS - 1}, got {reached_second}")
    return points * REACHED_SLOTS + (REACHED_SLOTS - 1 - reached_second)


def decode_score(score: float | int | str | bytes) -> DecodedScore:
    value = int(float(score))
    points, remainder = divmod(value, REACHED_SLOTS)
    return DecodedScore(points=points, reached_second=REACHED_SLOTS - 1 - remainder)
