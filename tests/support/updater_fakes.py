"""Stand-ins for the updater's ports (an in-memory board writer, a recording dead-letter queue) and
Kafka events built from score records, to drive ScoreBatchProcessor without servers. Instants are
fixed and past, with explicit receipt times (or none), so nothing depends on today's date."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.adapters.msk_batch import ScoreBatchProcessor, decode_score_record
from shared.application.apply import ApplyResult, BatchTally, DeadLetter, PendingScore
from shared.application.moderation_apply import ModerationStateStore
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Board, BoardSchedule, Window, parse_windows
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.record_codec import encode_moderation, encode_record


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


NOVEMBER = ms("2026-11-05T10:00:00Z")
DECEMBER = ms("2026-12-03T01:00:00Z")
EVERY_WINDOW = BoardSchedule(parse_windows())
MONTHLY_ONLY = BoardSchedule((Window.MONTHLY,))


def board(window: Window, period: str) -> Board:
    return window.parse_period(period)


class InMemoryBoards:
    """The reference store (shared.application.reference_board, held to the apply script by the model
    test) with failures on demand: a failing board or call raises as Redis would, before writing. With
    `now_ms`, a board whose expiry has come takes nothing (its records are past retention)."""

    def __init__(
        self,
        failing_boards: Iterable[Board] = (),
        failing_calls: Iterable[int] = (),
        failing_from: Mapping[Board, int] | None = None,
        now_ms: int | None = None,
    ) -> None:
        self.now_ms = now_ms
        self.failing_boards = set(failing_boards)
        self.failing_calls = set(failing_calls)
        self.failing_from = dict(failing_from or {})  # board -> calls starting at or above this offset fail
        self.calls: list[tuple[Board, str, list[int]]] = []
        self.store = ReferenceBoards()
        self.expiries: dict[Board, int | None] = {}  # the expiry each board was last written with

    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        self.calls.append((board, partition, [score.offset for score in scores]))
        self.expiries[board] = expires_at_ms
        failing_from = self.failing_from.get(board)
        if (
            board in self.failing_boards
            or len(self.calls) in self.failing_calls
            or (failing_from is not None and scores[0].offset >= failing_from)
        ):
            raise RedisConnectionError("redis is down")
        if self.now_ms is not None and expires_at_ms is not None and self.now_ms >= expires_at_ms:
            return ApplyResult(0, past_retention=tuple(score.offset for score in scores))
        return self.store.apply(board, partition, scores)

    @property
    def points(self) -> dict[Board, dict[str, int]]:
        return {
            board: {user: board.codec.points_of(score) for user, score in model.scores.items()}
            for board, model in self.store.boards.items()
        }

    @property
    def hidden(self) -> dict[Board, dict[str, int]]:
        """The hidden sets' points (banned players), by board."""
        return {
            board: {user: board.codec.points_of(score) for user, score in model.hidden.items()}
            for board, model in self.store.boards.items()
            if model.hidden
        }

    @property
    def ticks(self) -> dict[Board, dict[str, int]]:
        return {
            board: {user: board.codec.decode(score).ticks for user, score in model.scores.items()}
            for board, model in self.store.boards.items()
        }

    @property
    def watermarks(self) -> dict[tuple[Board, str], int]:
        return {
            (board, partition): offset
            for board, model in self.store.boards.items()
            for partition, offset in model.watermarks.items()
        }

    def on(self, window: Window, period: str) -> dict[str, int]:
        return self.points.get(board(window, period), {})

    def offsets_sent(self, window: Window, period: str) -> list[list[int]]:
        return [offsets for sent_to, _, offsets in self.calls if sent_to == board(window, period)]


class RecordingDeadLetters:
    def __init__(self, refuse: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse

    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        if self.refuse:
            return list(letters)
        self.letters.extend(letters)
        return []


def record(partition: int, offset: int, value: bytes, *, timestamp: int | None = 0) -> dict[str, Any]:
    item = {
        "topic": "score-events",
        "partition": partition,
        "offset": offset,
        "timestampType": "CREATE_TIME",
        "value": base64.b64encode(value).decode(),
        "headers": [],
    }
    if timestamp is not None:
        item["timestamp"] = timestamp
    return item


def score(user: str, match: str, points: int = 1, at: int = NOVEMBER, received: int | None = None) -> bytes:
    return encode_record(ScoreEvent(event_id_for(match, user), match, user, points, at, received))


def keyed(item: dict[str, Any], user: str) -> dict[str, Any]:
    """The record keyed by its player's user id, as the producers key it."""
    return {**item, "key": base64.b64encode(user.encode()).decode()}


def moderation(
    user: str,
    kind: ModerationKind,
    at: int,
    *,
    request: str = "request",
    until: int | None = None,
    window: str | None = None,
    period: str | None = None,
) -> bytes:
    """A moderation action's record value, received at `at`."""
    return encode_moderation(
        ModerationAction(
            action_id_for(f"{request}-{kind}", user), user, kind, "cheating", "admin:test", at, until, window, period
        )
    )


def kafka_event(*records: dict[str, Any]) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in records:
        grouped.setdefault(f"{item['topic']}-{item['partition']}", []).append(item)
    return {"eventSource": "aws:kafka", "bootstrapServers": "b:9092", "records": grouped}


def process(
    boards: InMemoryBoards,
    letters: RecordingDeadLetters,
    event: dict[str, Any],
    schedule: BoardSchedule = EVERY_WINDOW,
    moderation: ModerationStateStore | None = None,
) -> tuple[list[tuple[str, int]], BatchTally]:
    processor = ScoreBatchProcessor(boards, letters, schedule, moderation)
    response: dict[str, Any] = dict(process_partial_response(event, decode_score_record, processor))
    failed = [failure["itemIdentifier"] for failure in response["batchItemFailures"]]
    return [(item["partition"], item["offset"]) for item in failed], processor.tally


def run(
    boards: InMemoryBoards,
    letters: RecordingDeadLetters,
    event: dict[str, Any],
    schedule: BoardSchedule = EVERY_WINDOW,
    moderation: ModerationStateStore | None = None,
) -> list[tuple[str, int]]:
    return process(boards, letters, event, schedule, moderation)[0]
