"""In-memory stand-ins for the moderation admin's ports (shared/application/moderation_admin.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.domain.boards import Board
from shared.domain.errors import BrokerUnavailable
from shared.domain.moderation import ModerationAction


@dataclass
class MemoryAuditTrail:
    actions: dict[tuple[str, str], ModerationAction] = field(default_factory=dict)
    timers: dict[str, ModerationAction] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)  # "append <id>", "timer <id>", "clear <id>", in order

    def append(self, action: ModerationAction) -> ModerationAction | None:
        key = (action.user_id, action.action_id)
        if key in self.actions:
            return self.actions[key]
        self.actions[key] = action
        self.writes.append(f"append {action.action_id}")
        return None

    def history(self, user_id: str) -> list[ModerationAction]:
        return [action for (user, _), action in self.actions.items() if user == user_id]

    def set_timer(self, ban: ModerationAction) -> None:
        self.timers[ban.action_id] = ban
        self.writes.append(f"timer {ban.action_id}")

    def due_timers(self, now_ms: int, limit: int) -> list[ModerationAction]:
        due = [ban for ban in self.timers.values() if ban.until_ms is not None and ban.until_ms <= now_ms]
        return sorted(due, key=lambda ban: (ban.until_ms or 0, ban.action_id))[:limit]

    def clear_timer(self, ban: ModerationAction) -> None:
        self.timers.pop(ban.action_id, None)
        self.writes.append(f"clear {ban.action_id}")


@dataclass
class RecordingPublisher:
    published: list[ModerationAction] = field(default_factory=list)
    failures_left: int = 0  # publishes that raise BrokerUnavailable first

    def publish_moderation(self, actions: Sequence[ModerationAction]) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise BrokerUnavailable("broker down (test)")
        self.published.extend(actions)


@dataclass
class FixedHiddenScores:
    points: dict[tuple[str, Board], int] = field(default_factory=dict)
    asked: list[Board] = field(default_factory=list)

    def hidden_points(self, user_id: str, boards: Sequence[Board]) -> dict[Board, int]:
        self.asked = list(boards)
        return {board: self.points[(user_id, board)] for board in boards if (user_id, board) in self.points}
