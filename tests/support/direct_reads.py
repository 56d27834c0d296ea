"""What the servers hold, read straight from them (the ground truth checks): boards in Redis, records in Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from shared.adapters.keys import board_shard_keys, hidden_scores_key
from shared.adapters.redis_client import create_redis_client
from shared.domain.boards import Board, Window

BoardId = tuple[Window, str]


def board_ids_of(occurred_at_ms: int) -> list[BoardId]:
    """The boards an event counts on when every window is enabled and none is closed to it, from
    `datetime` alone: the ground truth's own answer, independent of shared.domain.boards."""
    moment = datetime.fromtimestamp(occurred_at_ms / 1000, tz=UTC)
    iso = moment.isocalendar()
    return [
        (Window.DAILY, moment.strftime("%Y-%m-%d")),
        (Window.WEEKLY, f"{iso.year:04d}-W{iso.week:02d}"),
        (Window.MONTHLY, moment.strftime("%Y-%m")),
        (Window.ALLTIME, "all"),
    ]


def board_points(redis_url: str, board: Board | str, *, hidden: bool = False, shards: int = 1) -> dict[str, int]:
    """Everyone's points on a board (a str names a month), read straight from Redis (the ground truth
    check), decoded with the board's own codec; any REDIS_URL topology. `hidden`: the board's hidden
    set (banned players) instead. A sharded board is read from every shard's key, and each player must
    sit in one shard only."""
    if isinstance(board, str):
        board = Window.MONTHLY.parse_period(board)
    client = create_redis_client(redis_url, decode_responses=True)
    try:
        points: dict[str, int] = {}
        for shard_key in board_shard_keys(board, shards):
            key = hidden_scores_key(shard_key) if hidden else shard_key
            members: list[tuple[str, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
            for member, score in members:
                assert member not in points, f"{member!r} sits in two shards of {board.key}"
                points[member] = board.codec.points_of(score)
        return points
    finally:
        client.close()


def topic_end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's next offset: it moves with every record produced, however it is read later."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
    finally:
        consumer.close()


def board_members_starting_with(redis_url: str, prefix: str) -> dict[str, list[str]]:
    """Members whose id starts with `prefix`, on every board in Redis (any window, any period)."""
    client = create_redis_client(redis_url, decode_responses=True)
    try:
        found: dict[str, list[str]] = {}
        for key in client.scan_iter(match="lb:{*}", _type="zset"):
            members = [member for member, _ in client.zscan_iter(key, match=f"{prefix}*")]
            if members:
                found[key] = members
        return found
    finally:
        client.close()


def topic_values(bootstrap: str, topic: str, *, quiet_seconds: float = 1.5) -> list[dict[str, Any]]:
    """Every record value on the topic, read from the beginning without a consumer group."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=int(quiet_seconds * 1000)
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [json.loads(record.value) for record in consumer]
    finally:
        consumer.close()
