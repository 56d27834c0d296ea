"""Moderation actions: what an operator does to a player, and the form that travels through Kafka.

An action travels on the score topic, keyed by the player's user id like their scores, so the
updater sees it in order with them and a replay applies it again. `action_id` plays the part a
score's event id plays: the updater remembers it per board and applies it once.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import NamedTuple

from shared.domain.events import EVENT_ID_LENGTH, MAX_EPOCH_MS, InvalidInput

MAX_REASON_LENGTH = 500
MAX_ACTOR_LENGTH = 256


class ModerationKind(StrEnum):
    BAN = "ban"
    UNBAN = "unban"
    RESET = "reset"


class ModerationAction(NamedTuple):
    """A validated moderation action on one player.

    `received_at_ms` is when the admin route accepted it, named as a score event's is so the
    period closer's wait for the updater treats both kinds of record alike.
    """

    action_id: str
    user_id: str
    kind: ModerationKind
    reason: str
    actor: str
    received_at_ms: int
    until_ms: int | None = None  # a ban's end; None: until lifted
    window: str | None = None  # a reset's board
    period: str | None = None


def action_id_for(request_id: str, user_id: str) -> str:
    """The action's id: the same admin request (retried with its request id) is the same action."""
    digest = hashlib.blake2b(f"moderation\x00{request_id}\x00{user_id}".encode(), digest_size=EVENT_ID_LENGTH // 2)
    return digest.hexdigest()


def checked_reason(value: object, *, field: str = "reason") -> str:
    """A reason an operator gave: 1..500 printable characters, as the audit trail keeps it."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    text = value.strip()
    if not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > MAX_REASON_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_REASON_LENGTH} characters")
    if not text.isprintable():
        raise InvalidInput(field, "must hold printable characters only (no control or format characters)")
    return text


def checked_until(until_ms: int | None, *, received_at_ms: int, field: str = "until") -> int | None:
    """A timed ban's end: after the ban itself and no later than the year 9999."""
    if until_ms is None:
        return None
    if not received_at_ms < until_ms <= MAX_EPOCH_MS:
        raise InvalidInput(field, "must be in the future")
    return until_ms


def ban_in_force(action: ModerationAction, at_ms: int) -> bool:
    """Whether a ban action still hides its player at `at_ms` (a timed ban lifts itself at its end)."""
    return action.kind is ModerationKind.BAN and (action.until_ms is None or at_ms < action.until_ms)
