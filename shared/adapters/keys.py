"""Every Redis key name the service uses.

A board, its applied-offset watermarks and the event ids applied to it share one hash tag, so
the apply script's keys live in one Redis Cluster slot.
"""

from __future__ import annotations


def _board_tag(period: str) -> str:
    return f"lb:{{monthly:{period}}}"


def board_key(period: str) -> str:
    return _board_tag(period)


def applied_offsets_key(period: str) -> str:
    return f"{_board_tag(period)}:applied"


def applied_events_key(period: str, partition: str) -> str:
    return f"{_board_tag(period)}:events:{partition}"


def dead_letter_key(fingerprint: str) -> str:
    return f"lb:deadletter:{fingerprint}"


def submission_key(event_id: str) -> str:
    return f"lb:submission:{event_id}"
