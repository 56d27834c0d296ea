"""Workloads built before any timing starts: players, score records, Lambda events.

Everything is drawn from a seeded random.Random, so two runs measure the same work.
"""

from __future__ import annotations

import base64
import bisect
import copy
import itertools
import json
import random
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from bench.environment import REPO_ROOT
from shared.application.apply import PendingScore
from shared.domain.boards import Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record

EVENTS_DIR = REPO_ROOT / "events"
MAX_POINTS_PER_MATCH = 100
EVENT_SOURCE_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/bench/00000000-0000-0000-0000-000000000000-1"


def short_id(index: int) -> str:
    """A 9-character player id, e.g. p00012345."""
    return f"p{index:08d}"


def pending_score(offset: int, user_id: str, points: int, reached_second: int) -> PendingScore:
    """A score for the apply script straight from a benchmark: its event id is unique per offset and player."""
    event_id = bytes.fromhex(event_id_for(f"bench-{offset}", user_id))
    return PendingScore(offset, event_id, user_id, points, reached_second, -1)


def uuid_ids(count: int, rng: random.Random) -> Iterator[str]:
    """`count` 36-character UUID4 strings."""
    for _ in range(count):
        yield str(uuid.UUID(int=rng.getrandbits(128), version=4))


def partition_of(user_id: str, partitions: int) -> int:
    """A stable key -> partition mapping (Kafka uses murmur2; any stable hash spreads users alike)."""
    return zlib.crc32(user_id.encode()) % partitions


def recent_occurred_at(now_ms: int, rng: random.Random, spread_ms: int = 3_600_000) -> int:
    """A moment within the last `spread_ms`, never before the start of the current month."""
    start = Window.MONTHLY.current(now_ms).start_ms
    return max(start, now_ms - rng.randrange(spread_ms))


@dataclass(frozen=True)
class ScoreRecord:
    user_id: str
    key: bytes
    value: bytes
    points: int


def score_record(match_id: str, user_id: str, points: int, occurred_at_ms: int) -> ScoreRecord:
    event = ScoreEvent(
        event_id=event_id_for(match_id, user_id),
        match_id=match_id,
        user_id=user_id,
        points=points,
        occurred_at_ms=occurred_at_ms,
    )
    return ScoreRecord(user_id, user_id.encode(), encode_record(event), points)


@dataclass
class KafkaEventFactory:
    """`aws:kafka` events as Lambda's MSK trigger delivers them: records grouped by "<topic>-<partition>",
    each partition's offsets continuing where the previous event left them. Players are drawn
    uniformly, or with `zipf_exponent` set, the k-th most active in proportion to 1 / k^exponent."""

    topic: str
    partitions: int
    players: int
    rng: random.Random
    now_ms: int
    zipf_exponent: float | None = None
    _next_offset: list[int] = field(default_factory=list)
    _matches: int = 0
    _cumulative_weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._next_offset = [0] * self.partitions
        if self.zipf_exponent is not None:
            weights = (1 / rank**self.zipf_exponent for rank in range(1, self.players + 1))
            self._cumulative_weights = list(itertools.accumulate(weights))

    def _player(self) -> int:
        if not self._cumulative_weights:
            return self.rng.randrange(self.players)
        drawn = self.rng.random() * self._cumulative_weights[-1]
        return min(bisect.bisect_left(self._cumulative_weights, drawn), self.players - 1)

    def record(self) -> tuple[int, ScoreRecord]:
        user_id = short_id(self._player())
        self._matches += 1
        record = score_record(
            f"m{self._matches}",
            user_id,
            self.rng.randint(1, MAX_POINTS_PER_MATCH),
            recent_occurred_at(self.now_ms, self.rng),
        )
        return partition_of(user_id, self.partitions), record

    def event(self, size: int) -> dict[str, Any]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for _ in range(size):
            partition, record = self.record()
            offset = self._next_offset[partition]
            self._next_offset[partition] = offset + 1
            grouped.setdefault(f"{self.topic}-{partition}", []).append(
                {
                    "topic": self.topic,
                    "partition": partition,
                    "offset": offset,
                    "timestamp": self.now_ms,
                    "timestampType": "CREATE_TIME",
                    "key": base64.b64encode(record.key).decode(),
                    "value": base64.b64encode(record.value).decode(),
                    "headers": [],
                }
            )
        return {
            "eventSource": "aws:kafka",
            "eventSourceArn": EVENT_SOURCE_ARN,
            "bootstrapServers": "127.0.0.1:9092",
            "records": grouped,
        }


def random_score(rng: random.Random) -> int:
    """An encoded monthly board score: up to 100 k points, reached at any second of a month."""
    return Window.MONTHLY.codec.encode(rng.randrange(100_000), rng.randrange(31 * 86_400))


@cache
def _sample_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return loaded


def _with_query(event: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return event


def get_top_event(period: str, limit: int = 10) -> dict[str, Any]:
    return _with_query(copy.deepcopy(_sample_event("get_top.json")), {"period": period, "limit": str(limit)})


def get_player_event(period: str, user_id: str, around: int) -> dict[str, Any]:
    event = copy.deepcopy(_sample_event("get_player.json"))
    event["path"] = f"/v1/leaderboards/monthly/users/{user_id}"
    event["pathParameters"] = {"user_id": user_id}
    return _with_query(event, {"period": period, "around": str(around)})


def post_batch_event(scores: list[dict[str, Any]]) -> dict[str, Any]:
    event = copy.deepcopy(_sample_event("post_score_batch.json"))
    event["body"] = json.dumps({"scores": scores})
    return event
