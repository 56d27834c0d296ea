"""Every Redis key name the service uses.

A board's key is `Board.key` (shared/domain/boards.py). Its applied-offset watermarks and the
event ids applied to it carry the board's key as a prefix, hash tag included, so the apply
script's keys live in one Redis Cluster slot.
"""

from __future__ import annotations

from shared.domain.boards import Board


def applied_offsets_key(board: Board) -> str:
    return f"{board.key}:applied"


def applied_events_key(board: Board, partition: str) -> str:
    return f"{board.key}:events:{partition}"


def dead_letter_key(fingerprint: str) -> str:
    return f"lb:deadletter:{fingerprint}"


def submission_key(event_id: str) -> str:
    return f"lb:submission:{event_id}"
