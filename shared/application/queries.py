"""Reading boards: a page of the top, and one player's standing (the port the query function reads through)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Standing:
    rank: int
    user_id: str
    points: int


@dataclass(frozen=True, slots=True)
class PlayerStanding:
    standing: Standing
    total: int
    around: list[Standing]
