"""Live boards: who watches which window (LiveSubscriptions), and what to push when boards change
(LiveNotifier). The protocol is in docs/LIVE.md.

A client subscribes to a window (the current period of it) and optionally to one player. The
notifier gets the updater's change reports and, per board, pushes at most once per
PUSH_INTERVAL_MS: the top 10 when it differs from the one last pushed, and each subscribed
player's standing when their rank or points differ from the last pushed. A board that changes
again within the interval gets one trailing push when the interval ends, so the last change is
never left unpushed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson

from shared.application.queries import LeaderboardQueries, PlayerStanding, TopPage, entry_documents
from shared.domain.board_changes import BoardChange
from shared.domain.boards import Board, UnknownWindow
from shared.domain.events import InvalidId, canonical_id

TOP_SIZE = 10
STANDING_NEIGHBOURS = 2  # players shown on each side of a subscribed player
PUSH_INTERVAL_MS = 1000  # per board, at most one push in this time
CLAIM_EXPIRY_MARGIN_MS = 5
MAX_CLIENT_MESSAGE_BYTES = 4096  # a subscribe message is a few dozen bytes


class Subscriber(NamedTuple):
    connection_id: str
    user_id: str | None


class ConnectionRegistry(Protocol):
    """Open connections and their subscriptions; entries outlive a lost disconnect by the TTL at most."""

    def open(self, connection_id: str, source_ip: str) -> bool:
        """Register a connection; False (and nothing registered) when its IP has too many open."""
        ...

    def subscribe(self, connection_id: str, board_window: str, user_id: str | None) -> None:
        """Replace the connection's subscription."""
        ...

    def close(self, connection_id: str) -> None: ...

    def subscribers(self, board_window: str) -> list[Subscriber]: ...


class PushTransport(Protocol):
    def send(self, connection_id: str, message: bytes) -> bool:
        """Deliver one message; False when the connection is gone. Other failures raise PushFailed."""
        ...


class PushFailed(RuntimeError):
    """The push service did not take a message (not a gone connection)."""


class PushMemory(Protocol):
    """What was pushed last, and the per-board push throttle, shared by every notifier instance."""

    def claim_push(self, board: Board, interval_ms: int) -> bool:
        """True if no push of `board` was claimed within the last `interval_ms`; claims it."""
        ...

    def claim_trailing(self, board: Board, hold_ms: int) -> bool:
        """True if no trailing push of `board` is pending; makes this one pending."""
        ...

    def push_claim_left_ms(self, board: Board) -> int:
        """How long the board's current push claim still holds (0: none)."""
        ...

    def release_trailing(self, board: Board) -> None: ...

    def swap_top_digest(self, board: Board, digest: str) -> bool:
        """Remember `digest` as the board's last pushed top; True if it differs from the one before."""
        ...

    def changed_standings(self, board: Board, standings: dict[str, str]) -> set[str]:
        """Remember each player's last pushed standing; return the players whose standing differs."""
        ...

    def remember_first_standing(self, board: Board, user_id: str, standing: str) -> None:
        """Remember the player's standing as pushed, unless one is remembered already."""
        ...


def _json(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def error_message(code: str, message: str) -> bytes:
    return _json({"type": "error", "code": code, "message": message})


# `as_of` is when the board was read (epoch ms, taken before the read): two pushes of one board can
# overlap and arrive out of order, and a client keeps the one read later.
def top_message(board: Board, page: TopPage, as_of_ms: int) -> bytes:
    return _json(
        {
            "type": "top",
            "window": board.window.value,
            "period": board.period,
            "as_of": as_of_ms,
            "entries": entry_documents(page.entries),
        }
    )


def standing_message(board: Board, found: PlayerStanding, as_of_ms: int) -> bytes:
    me = found.standing
    return _json(
        {
            "type": "standing",
            "window": board.window.value,
            "period": board.period,
            "as_of": as_of_ms,
            "user_id": me.user_id,
            "rank": me.rank,
            "points": me.points,
            "around": entry_documents(found.around),
        }
    )


def _standing_value(found: PlayerStanding) -> str:
    return f"{found.standing.rank}:{found.standing.points}"


class InvalidSubscription(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Subscription:
    window: str
    user_id: str | None


def parse_subscription(body: str | bytes | None, *, binary: bool, enabled: Callable[[str], Board]) -> Subscription:
    """A subscribe message, checked; InvalidSubscription names what is wrong. `enabled(window)` is
    the current board of an enabled window, or UnknownWindow."""
    if binary:
        raise InvalidSubscription("invalid_message", "binary frames are not accepted: send a JSON text message")
    raw = body.encode() if isinstance(body, str) else (body or b"")
    if len(raw) > MAX_CLIENT_MESSAGE_BYTES:
        raise InvalidSubscription("message_too_large", f"messages are at most {MAX_CLIENT_MESSAGE_BYTES} bytes")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidSubscription("invalid_message", "the message is not JSON") from None
    if not isinstance(document, dict):
        raise InvalidSubscription("invalid_message", "the message must be a JSON object")
    if document.get("action") != "subscribe":
        raise InvalidSubscription("unknown_action", 'action: the only action is "subscribe"')
    unknown = sorted(set(document) - {"action", "window", "user_id"})
    if unknown:
        raise InvalidSubscription("invalid_message", f"unknown fields: {', '.join(unknown)}")
    window = document.get("window")
    if not isinstance(window, str):
        raise InvalidSubscription("invalid_window", 'window: a string is required, e.g. "monthly"')
    try:
        enabled(window)
    except UnknownWindow as problem:
        raise InvalidSubscription("unknown_window", f"window: {problem}") from None
    user_id = document.get("user_id")
    if user_id is not None:
        try:
            user_id = canonical_id(user_id)
        except InvalidId as problem:
            raise InvalidSubscription("invalid_user_id", f"user_id: {problem}") from None
    return Subscription(window, user_id)


class LiveSubscriptions:
    """The connection side: connect (throttled per IP), subscribe (answered with the current top
    and standing at once), disconnect."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        transport: PushTransport,
        memory: PushMemory,
        queries: LeaderboardQueries,
    ) -> None:
        self._registry = registry
        self._transport = transport
        self._memory = memory
        self._queries = queries

    def connect(self, connection_id: str, source_ip: str) -> bool:
        return self._registry.open(connection_id, source_ip)

    def disconnect(self, connection_id: str) -> None:
        self._registry.close(connection_id)

    def subscribe(self, connection_id: str, body: str | bytes | None, *, binary: bool = False) -> bool:
        """Handle one client message; False when it was refused (the client got an error message)."""
        try:
            subscription = parse_subscription(body, binary=binary, enabled=self._queries.board)
        except InvalidSubscription as problem:
            self._transport.send(connection_id, error_message(problem.code, str(problem)))
            return False
        self._registry.subscribe(connection_id, subscription.window, subscription.user_id)
        board = self._queries.board(subscription.window)
        read_at = self._queries.now_ms()
        top = self._queries.top(board, offset=0, limit=TOP_SIZE)
        if not self._transport.send(connection_id, top_message(board, top, read_at)):
            self._registry.close(connection_id)
            return True
        if subscription.user_id is not None:
            found = self._queries.player(board, subscription.user_id, around=STANDING_NEIGHBOURS)
            if found is not None:
                # Remembered only when nothing is: if another connection watches this player, the
                # standing it was pushed last is what the next push compares with, so a change it
                # has not seen yet still reaches it (this connection may then get it twice).
                self._memory.remember_first_standing(board, found.standing.user_id, _standing_value(found))
                self._transport.send(connection_id, standing_message(board, found, read_at))
        return True


@dataclass(slots=True)
class NotifyTally:
    boards_pushed: int = 0  # boards whose top or a standing was pushed
    top_pushes: int = 0  # messages
    standing_pushes: int = 0
    unchanged_tops: int = 0  # boards read whose top 10 was the one pushed last
    throttled: int = 0  # board changes left to a pending (or newly scheduled) trailing push
    stale: int = 0  # changes to a board that is no longer its window's current period
    gone: int = 0  # connections found gone and removed
    failed_sends: int = 0
    pushed_boards: list[Board] = field(default_factory=list)


def top_digest(page: TopPage) -> str:
    return hashlib.blake2b(orjson.dumps(entry_documents(page.entries)), digest_size=16).hexdigest()


class LiveNotifier:
    """Pushes board changes to subscribers; never raises for a client that fails or is gone."""

    def __init__(
        self,
        registry: ConnectionRegistry,
        transport: PushTransport,
        memory: PushMemory,
        queries: LeaderboardQueries,
        *,
        sleep: Callable[[float], None],
        interval_ms: int = PUSH_INTERVAL_MS,
    ) -> None:
        self._registry = registry
        self._transport = transport
        self._memory = memory
        self._queries = queries
        self._sleep = sleep
        self._interval_ms = interval_ms

    def notify(self, changes: Iterable[BoardChange]) -> NotifyTally:
        tally = NotifyTally()
        trailing: list[Board] = []
        for change in changes:
            board = change.board
            if self._is_past(board):
                tally.stale += 1
                continue
            if self._memory.claim_push(board, self._interval_ms):
                self._push(board, tally)
                continue
            tally.throttled += 1
            # The hold outlasts the wait below: a trailing push is never claimed twice meanwhile.
            if self._memory.claim_trailing(board, 3 * self._interval_ms):
                trailing.append(board)
        if trailing:
            # Until the interval of the push that throttled them ends, not a full interval more.
            # A little more: a claim the store reports 0 ms from its end may outlive it by a few.
            wait_ms = max(self._memory.push_claim_left_ms(board) for board in trailing)
            if wait_ms > 0:
                self._sleep((wait_ms + CLAIM_EXPIRY_MARGIN_MS) / 1000)
            for board in trailing:
                # Released before the board is read: a change applied after the read finds no
                # trailing push pending and schedules its own.
                self._memory.release_trailing(board)
                if self._is_past(board):  # its period ended during the wait
                    tally.stale += 1
                elif self._memory.claim_push(board, self._interval_ms):
                    self._push(board, tally)
                # else: another instance claimed the push just now and reads the board after this change.
        return tally

    def _is_past(self, board: Board) -> bool:
        return self._queries.board(board.window) != board

    def _push(self, board: Board, tally: NotifyTally) -> None:
        # The digest follows the board even while nobody watches: a subscriber is answered with
        # the top of the moment, and the next push must compare with that, not with an older one.
        read_at = self._queries.now_ms()
        page = self._queries.top(board, offset=0, limit=TOP_SIZE)
        top_changed = self._memory.swap_top_digest(board, top_digest(page))
        subscribers = self._registry.subscribers(board.window)
        if not subscribers:
            return
        pushed = False
        if top_changed:
            message = top_message(board, page, read_at)
            for subscriber in subscribers:
                pushed |= self._send(subscriber.connection_id, message, tally, top=True)
        else:
            tally.unchanged_tops += 1

        connections_of = subscribers_by_user(subscribers)
        found_standings = {}
        for user_id in connections_of:
            found = self._queries.player(board, user_id, around=STANDING_NEIGHBOURS)
            if found is not None:
                found_standings[user_id] = found
        if found_standings:
            changed = self._memory.changed_standings(
                board, {user_id: _standing_value(found) for user_id, found in found_standings.items()}
            )
            for user_id in changed:
                message = standing_message(board, found_standings[user_id], read_at)
                for connection_id in connections_of[user_id]:
                    pushed |= self._send(connection_id, message, tally, top=False)
        if pushed:
            tally.boards_pushed += 1
            tally.pushed_boards.append(board)

    def _send(self, connection_id: str, message: bytes, tally: NotifyTally, *, top: bool) -> bool:
        try:
            delivered = self._transport.send(connection_id, message)
        except PushFailed:
            tally.failed_sends += 1
            return False
        if not delivered:
            tally.gone += 1
            self._registry.close(connection_id)
            return False
        if top:
            tally.top_pushes += 1
        else:
            tally.standing_pushes += 1
        return True


def subscribers_by_user(subscribers: Sequence[Subscriber]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for subscriber in subscribers:
        if subscriber.user_id is not None:
            grouped[subscriber.user_id].append(subscriber.connection_id)
    return grouped
