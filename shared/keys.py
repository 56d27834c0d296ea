"""Every Redis key name the service uses.

A board and its applied-offset watermarks share one hash tag, so the apply script's keys
live in one Redis Cluster slot.
"""

from __future__ import annotations


def _board_tag(period: str) -> str:
    return f"lb:{{monthly:{period}}}"


def board_key(period: str) -> str:
    return _board_tag(period)


def applied_offsets_key(period: str) -> str:
    return f"{_board_tag(period)}:applied"


def submission_key(event_id: str) -> str:
    return f"lb:submission:{event_id}"
