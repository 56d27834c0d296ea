"""What the servers hold, read straight from them (the ground truth checks): boards in Redis, records in Kafka."""

from __future__ import annotations

import json
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from shared.adapters.keys import board_key
from shared.adapters.redis_client import create_redis_client
from shared.domain.month_codec import decode_score


def board_points(redis_url: str, period: str) -> dict[str, int]:
    """Everyone's points on a board, read straight from Redis (the ground truth check); any REDIS_URL topology."""
    client = create_redis_client(redis_url, decode_responses=True)
    try:
        members: list[tuple[str, float]] = client.zrange(board_key(period), 0, -1, withscores=True)  # type: ignore[assignment]
        return {member: decode_score(score).points for member, score in members}
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
