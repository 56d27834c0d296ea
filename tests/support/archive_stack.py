"""Scores for the archive and rebuild tests, produced straight to a stack's topic."""

from __future__ import annotations

import random
import uuid

from kafka import KafkaProducer

from local_runtime.stack import RunningStack
from shared.domain.boards import Board
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record, record_key


def produce_day(stack: RunningStack, board: Board, players: int, seed: int, topic: str = "") -> dict[str, int]:
    """Two matches per player inside the day, received a second after each; the truth: user -> points."""
    rng = random.Random(seed)
    truth: dict[str, int] = {}
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all", linger_ms=5)
    try:
        for number in range(players):
            user = f"p{number:04d}-{uuid.uuid4().hex[:4]}"
            for match in range(2):
                occurred = board.start_ms + rng.randrange(0, 86_000) * 1000
                points = rng.randint(1, 6)
                event = ScoreEvent(
                    event_id_for(f"m{match}", user), f"m{match}", user, points, occurred, occurred + 1000
                )
                producer.send(topic or stack.topic, key=record_key(event), value=encode_record(event))
                truth[user] = truth.get(user, 0) + points
        producer.flush(timeout=30)
    finally:
        producer.close()
    return truth
