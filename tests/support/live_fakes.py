"""In-memory ports for LiveSubscriptions and LiveNotifier: a board reader, the registry, the push
memory and the transport, all driven by one fake clock (no timed waits)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.application.live import PushFailed, Subscriber
from shared.application.queries import BoardSlice, Entry, LeaderboardQueries, PlayerSlice
from shared.domain.boards import Board, Window

# 2026-12-02T10:00:00Z: a fixed instant, so nothing here reads the date.
NOW_MS = 1_796_205_600_000


@dataclass
class FakeClock:
    now_ms: int = NOW_MS
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> int:
        return self.now_ms

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now_ms += int(seconds * 1000)


class PointsReader:
    """Boards as user -> points, ordered by points then user id (ties do not matter here)."""

    def __init__(self) -> None:
        self.points: dict[Board, dict[str, int]] = {}
        self.reads = 0

    def put(self, board: Board, user_id: str, points: int) -> None:
        self.points.setdefault(board, {})[user_id] = points

    def _ordered(self, board: Board) -> list[Entry]:
        players = self.points.get(board, {})
        return [Entry(user, points) for user, points in sorted(players.items(), key=lambda item: (-item[1], item[0]))]

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        self.reads += 1
        ordered = self._ordered(board)
        return BoardSlice(total=len(ordered), first_index=offset, entries=tuple(ordered[offset : offset + limit]))

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        self.reads += 1
        ordered = self._ordered(board)
        index = next((n for n, entry in enumerate(ordered) if entry.user_id == user_id), None)
        if index is None:
            return None
        first = max(0, index - neighbours)
        slice_ = BoardSlice(
            total=len(ordered), first_index=first, entries=tuple(ordered[first : index + neighbours + 1])
        )
        return PlayerSlice(index=index, neighbourhood=slice_)

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        return {board for board in boards if self.points.get(board)}


class FakeRegistry:
    def __init__(self, max_per_ip: int = 3) -> None:
        self.max_per_ip = max_per_ip
        self.ips: dict[str, str] = {}
        self.subscriptions: dict[str, tuple[str, str | None]] = {}

    def open(self, connection_id: str, source_ip: str) -> bool:
        if sum(1 for ip in self.ips.values() if ip == source_ip) >= self.max_per_ip:
            return False
        self.ips[connection_id] = source_ip
        return True

    def subscribe(self, connection_id: str, board_window: str, user_id: str | None) -> None:
        self.subscriptions[connection_id] = (board_window, user_id)

    def close(self, connection_id: str) -> None:
        self.ips.pop(connection_id, None)
        self.subscriptions.pop(connection_id, None)

    def subscribers(self, board_window: str) -> list[Subscriber]:
        return [Subscriber(c, user) for c, (window, user) in self.subscriptions.items() if window == board_window]


class FakeMemory:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.claims: dict[tuple[str, Board], int] = {}  # -> expiry
        self.digests: dict[Board, str] = {}
        self.standings: dict[tuple[Board, str], str] = {}

    def _claim(self, kind: str, board: Board, hold_ms: int) -> bool:
        expiry = self.claims.get((kind, board))
        if expiry is not None and expiry > self.clock.now_ms:
            return False
        self.claims[(kind, board)] = self.clock.now_ms + hold_ms
        return True

    def claim_push(self, board: Board, interval_ms: int) -> bool:
        return self._claim("push", board, interval_ms)

    def claim_trailing(self, board: Board, hold_ms: int) -> bool:
        return self._claim("trailing", board, hold_ms)

    def push_claim_left_ms(self, board: Board) -> int:
        return max(0, self.claims.get(("push", board), 0) - self.clock.now_ms)

    def release_trailing(self, board: Board) -> None:
        self.claims.pop(("trailing", board), None)

    def swap_top_digest(self, board: Board, digest: str) -> bool:
        before = self.digests.get(board)
        self.digests[board] = digest
        return before != digest

    def changed_standings(self, board: Board, standings: dict[str, str]) -> set[str]:
        changed = {user for user, value in standings.items() if self.standings.get((board, user)) != value}
        for user in changed:
            self.standings[(board, user)] = standings[user]
        return changed

    def remember_first_standing(self, board: Board, user_id: str, standing: str) -> None:
        self.standings.setdefault((board, user_id), standing)


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.gone: set[str] = set()
        self.failing: set[str] = set()

    def send(self, connection_id: str, message: bytes) -> bool:
        if connection_id in self.failing:
            raise PushFailed("refused")
        if connection_id in self.gone:
            return False
        self.sent.append((connection_id, message))
        return True

    def to(self, connection_id: str) -> list[bytes]:
        return [message for target, message in self.sent if target == connection_id]


def queries_over(reader: PointsReader, clock: FakeClock) -> LeaderboardQueries:
    return LeaderboardQueries(reader, tuple(Window), clock=clock)
