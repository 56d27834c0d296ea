"""The operator side of moderation: record an action in the audit trail, then publish it to Kafka.

The audit trail is written first, and durably: an action published but never recorded would
change boards with no trace of who did it or why. An action recorded but not published (Kafka
down) is answered with a 503; the operator's retry with the same Idempotency-Key finds the
record and publishes that same action, which the updater applies once whatever the number of
copies. A timed ban also leaves a timer in the audit store; `expire_due` turns due timers into
the unban the ban's end calls for (docs/MODERATION.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.application.moderation_publisher import ModerationPublisher
from shared.domain.boards import PERIODS_LISTED, Board, BoardSchedule, Window
from shared.domain.moderation import ModerationAction, ModerationKind
from shared.domain.moderation_requests import (
    BanStatus,
    ban_status,
    expiry_of,
    in_effect_order,
    same_request,
    superseded,
)

# Timers handled per run at most: each costs a history read, two writes and a Kafka send.
EXPIRIES_PER_RUN = 200


class AuditTrail(Protocol):
    """Append-only record of moderation actions, with the timers of timed bans. Failures are AuditUnavailable."""

    def append(self, action: ModerationAction) -> ModerationAction | None:
        """Records the action unless one with its id is recorded; returns that earlier one, None when new."""
        ...

    def history(self, user_id: str) -> list[ModerationAction]:
        """Every action recorded on the player, in no particular order."""
        ...

    def set_timer(self, ban: ModerationAction) -> None:
        """Remember to end this timed ban at its `until` (again harmless)."""
        ...

    def due_timers(self, now_ms: int, limit: int) -> list[ModerationAction]:
        """Timed bans whose end is at or before `now_ms` and whose timer is still set, soonest first."""
        ...

    def clear_timer(self, ban: ModerationAction) -> None: ...


class HiddenScores(Protocol):
    def hidden_points(self, user_id: str, boards: Sequence[Board]) -> dict[Board, int]:
        """The player's hidden points on each of these boards that holds a hidden entry for them."""
        ...


class ArchiveRequests(Protocol):
    def request(self, action: ModerationAction) -> None:
        """Ask for the closed boards' archives to follow this ban or unban (again harmless)."""
        ...


class ConflictingRetry(Exception):
    """An action id (an Idempotency-Key) used before for another request."""

    def __init__(self, earlier: ModerationAction) -> None:
        super().__init__(
            f"this Idempotency-Key was used for another request on player {earlier.user_id!r} "
            f"({earlier.kind.value}, action {earlier.action_id}); use a new key for a new request"
        )
        self.earlier = earlier


@dataclass(frozen=True, slots=True)
class Accepted:
    action: ModerationAction
    retried: bool
    """The action had been recorded by an earlier request with the same key; it was published again."""


@dataclass(frozen=True, slots=True)
class PlayerReport:
    user_id: str
    status: BanStatus
    hidden_points: dict[Board, int]
    history: list[ModerationAction]
    """Oldest first."""


@dataclass(frozen=True, slots=True)
class ExpiryOutcome:
    ban: ModerationAction
    unban: ModerationAction | None
    """None: a later action had taken over from the ban, so its end changed nothing."""


@dataclass
class ModerationAdmin:
    audit: AuditTrail
    publisher: ModerationPublisher
    hidden: HiddenScores
    schedule: BoardSchedule
    clock: Callable[[], int]
    archive: ArchiveRequests | None = None
    expiries_per_run: int = EXPIRIES_PER_RUN

    def act(self, action: ModerationAction) -> Accepted:
        earlier = self.audit.append(action)
        if earlier is not None and not same_request(earlier, action):
            raise ConflictingRetry(earlier)
        recorded = earlier or action
        if recorded.kind is ModerationKind.BAN and recorded.until_ms is not None:
            self.audit.set_timer(recorded)
        self.publisher.publish_moderation([recorded])
        self._request_archives(recorded)
        return Accepted(recorded, retried=earlier is not None)

    def _request_archives(self, action: ModerationAction) -> None:
        if self.archive is not None:
            self.archive.request(action)

    def report(self, user_id: str) -> PlayerReport:
        history = in_effect_order(self.audit.history(user_id))
        now = self.clock()
        return PlayerReport(
            user_id=user_id,
            status=ban_status(history, now),
            hidden_points=self.hidden.hidden_points(user_id, self.player_boards(now)),
            history=history,
        )

    def player_boards(self, now_ms: int) -> list[Board]:
        """The boards a player can have in Redis: each enabled window's current and retained periods."""
        boards: list[Board] = []
        for window in self.schedule.windows:
            retention = self.schedule.retention_ms.get(window, 0)
            count = PERIODS_LISTED[window]
            if window is not Window.ALLTIME and retention > 0:
                current = window.current(now_ms)
                length = max((current.end_ms or current.start_ms) - current.start_ms, 1)
                count = max(count, retention // length + 2)
            boards.extend(window.parse_period(period) for period in window.recent_periods(now_ms, count))
        return boards

    def expire_due(self) -> list[ExpiryOutcome]:
        """Produce the unban of every timed ban whose end has come, at most `expiries_per_run` of them.

        Each step may run twice (a run that died halfway is run again): the unban has a fixed id
        and content, its record is written only where none is, and the updater applies it once.
        """
        outcomes = []
        for ban in self.audit.due_timers(self.clock(), self.expiries_per_run):
            unban: ModerationAction | None = None
            if not superseded(ban, self.audit.history(ban.user_id)):
                unban = expiry_of(ban)
                self.audit.append(unban)
                self.publisher.publish_moderation([unban])
                self._request_archives(unban)
            self.audit.clear_timer(ban)
            outcomes.append(ExpiryOutcome(ban, unban))
        return outcomes
