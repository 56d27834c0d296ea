"""What the admin routes turn into moderation actions, and what a player's audit history says. No I/O.

The rules of one action (its reason, a ban's end) are shared.domain.moderation's; this module adds
what only the operator side needs: reading `until` as the API takes it, the unban a timed ban
produces at its end, and a player's status read from the history of their actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.domain.events import MAX_EPOCH_MS, InvalidInput
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for, checked_until
from shared.domain.timestamps import NotRfc3339, rfc3339_to_epoch_ms

TIMED_BAN_ACTOR = "system:timed-ban"
EXPIRY_REQUEST_PREFIX = "expire:"


def parse_until(value: object, *, received_at_ms: int, field: str = "until") -> int | None:
    """A ban's `until` as sent: absent/null, epoch milliseconds, or an RFC 3339 timestamp with an offset."""
    if value is None:
        return None
    if type(value) is int:
        epoch_ms = value
    elif isinstance(value, str):
        try:
            epoch_ms = rfc3339_to_epoch_ms(value)
        except NotRfc3339 as problem:
            raise InvalidInput(field, str(problem)) from None
    else:
        raise InvalidInput(field, "must be epoch milliseconds (an integer) or an RFC 3339 timestamp (a string)")
    if not 0 <= epoch_ms <= MAX_EPOCH_MS:
        raise InvalidInput(field, "must be between 1970-01-01 and 9999-12-31 (UTC)")
    return checked_until(epoch_ms, received_at_ms=received_at_ms, field=field)


def expiry_of(ban: ModerationAction) -> ModerationAction:
    """The unban a timed ban produces at its end: the same every time it is made (id, instant, text)."""
    if ban.kind is not ModerationKind.BAN or ban.until_ms is None:
        raise ValueError(f"action {ban.action_id} is not a timed ban")
    return ModerationAction(
        action_id=action_id_for(EXPIRY_REQUEST_PREFIX + ban.action_id, ban.user_id),
        user_id=ban.user_id,
        kind=ModerationKind.UNBAN,
        reason=f"timed ban {ban.action_id} ended",
        actor=TIMED_BAN_ACTOR,
        received_at_ms=ban.until_ms,
    )


def same_request(first: ModerationAction, second: ModerationAction) -> bool:
    """Whether a retried request asks for what the first one did (its instant aside)."""
    return (first.kind, first.reason, first.until_ms, first.window, first.period) == (
        second.kind,
        second.reason,
        second.until_ms,
        second.window,
        second.period,
    )


@dataclass(frozen=True, slots=True)
class BanStatus:
    banned: bool
    ban: ModerationAction | None
    """The ban in force, when there is one."""

    @property
    def until_ms(self) -> int | None:
        return None if self.ban is None else self.ban.until_ms


def in_effect_order(history: Iterable[ModerationAction]) -> list[ModerationAction]:
    """Actions oldest first, as the updater applies them: by the instant they were accepted, then id."""
    return sorted(history, key=lambda action: (action.received_at_ms, action.action_id))


def ban_status(history: Iterable[ModerationAction], now_ms: int) -> BanStatus:
    """Whether the player is banned at `now_ms`: the latest ban or unban decides; a timed ban ends by itself."""
    latest: ModerationAction | None = None
    for action in in_effect_order(history):
        if action.received_at_ms > now_ms:
            continue
        if action.kind is not ModerationKind.RESET:
            latest = action
    if latest is None or latest.kind is not ModerationKind.BAN:
        return BanStatus(False, None)
    if latest.until_ms is not None and now_ms >= latest.until_ms:
        return BanStatus(False, None)
    return BanStatus(True, latest)


def superseded(ban: ModerationAction, history: Iterable[ModerationAction]) -> bool:
    """Whether a later ban or unban (by an operator or another timed ban) took over from `ban` before it ended.

    Then its end must not produce an unban: that would lift the newer ban.
    """
    return any(
        action.kind is not ModerationKind.RESET
        and action.action_id != ban.action_id
        and (action.received_at_ms, action.action_id) > (ban.received_at_ms, ban.action_id)
        and action.received_at_ms < (ban.until_ms if ban.until_ms is not None else MAX_EPOCH_MS)
        for action in history
    )
