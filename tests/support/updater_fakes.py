"""Stand-ins for the updater's ports (an in-memory board writer, a recording dead-letter queue) and
Kafka events built from score records, to drive ScoreBatchProcessor without servers."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.application.apply import ApplyResult, DeadLetter, PendingScore, ScoreBatchProcessor, decode_score_record
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record

NOVEMBER = 1_793_880_000_000


class InMemoryBoards:
    def __init__(self, failing_periods: Iterable[str] = (), failing_calls: Iterable[int] = ()) -> None:
        self.failing_periods = set(failing_periods)
        self.failing_calls = set(failing_calls)
        self.calls = 0
        self.watermarks: dict[tuple[str, str], int] = {}
        self.points: dict[tuple[str, str], int] = {}

    def apply(
        self, period: str, partition: str, scores: list[PendingScore], *, unscoped_partition: str = ""
    ) -> ApplyResult:
        self.calls += 1
        if period in self.failing_periods or self.calls in self.failing_calls:
            raise RedisConnectionError("redis is down")
        applied = redelivered = 0
        for score in scores:
            if score.offset <= self.watermarks.get((period, partition), -1):
                redelivered += 1
                continue
            self.points[(period, score.user_id)] = self.points.get((period, score.user_id), 0) + score.points
            self.watermarks[(period, partition)] = score.offset
            applied += 1
        return ApplyResult(applied, redelivered)


class RecordingDeadLetters:
    def __init__(self, refuse: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse

    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        if self.refuse:
            return list(letters)
        self.letters.extend(letters)
        return []


def record(partition: int, offset: int, value: bytes) -> dict[str, Any]:
    return {
        "topic": "score-events",
        "partition": partition,
        "offset": offset,
        "timestamp": 0,
        "timestampType": "CREATE_TIME",
        "value": base64.b64encode(value).decode(),
        "headers": [],
    }


def score(user: str, match: str, points: int = 1, at: int = NOVEMBER) -> bytes:
    return encode_record(ScoreEvent(event_id_for(match, user), match, user, points, at))


def kafka_event(*records: dict[str, Any]) -> dict[str, Any]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in records:
        grouped.setdefault(f"{item['topic']}-{item['partition']}", []).append(item)
    return {"eventSource": "aws:kafka", "bootstrapServers": "b:9092", "records": grouped}


def run(boards: InMemoryBoards, letters: RecordingDeadLetters, event: dict[str, Any]) -> list[tuple[str, int]]:
    processor = ScoreBatchProcessor(boards, letters)
    response: dict[str, Any] = dict(process_partial_response(event, decode_score_record, processor))
    return [(f["itemIdentifier"]["partition"], f["itemIdentifier"]["offset"]) for f in response["batchItemFailures"]]
