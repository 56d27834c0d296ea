"""The Kafka adapters for ingest and the admin routes: publish score events or moderation actions on
the score topic and return only once the broker holds them."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from shared.adapters.kafka_security import kafka_security_options
from shared.adapters.settings import Settings
from shared.domain.errors import BrokerUnavailable
from shared.domain.events import ScoreEvent
from shared.domain.moderation import ModerationAction
from shared.domain.record_codec import encode_moderation, encode_record, record_key, record_key_for_action


class ScoreEventPublisher:
    """Idempotent producer with acks=all, created on first use and recreated after a failure.

    One publish, producer creation included, waits at most `Settings.publish_timeout_seconds`:
    the configured send timeout, cut to what `seconds_left` (the invocation's remaining time)
    leaves after the ledger update and the answer.
    """

    client_id = "leaderboard-match-ingest"

    def __init__(self, settings: Settings, *, seconds_left: Callable[[], float | None] | None = None) -> None:
        self._settings = settings
        self._security = kafka_security_options(settings)  # refuses an insecure setup at cold start
        self._seconds_left = seconds_left or (lambda: None)
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _config(self) -> dict[str, Any]:
        timeout_ms = self._settings.kafka_send_timeout_seconds * 1000
        return {
            "bootstrap_servers": self._settings.kafka_bootstrap_servers.split(","),
            **self._security,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 2,
            "max_block_ms": timeout_ms,
            "request_timeout_ms": timeout_ms,
            "delivery_timeout_ms": timeout_ms + 2,
            "bootstrap_timeout_ms": timeout_ms,
            "reconnect_backoff_max_ms": 1000,
            "client_id": self.client_id,
        }

    def _get_producer(self, deadline: float) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(**{**self._config(), "bootstrap_timeout_ms": _ms_until(deadline)})
                except (KafkaError, OSError) as error:
                    raise BrokerUnavailable(f"cannot reach Kafka: {error}") from error
            return self._producer

    def _discard(self, producer: KafkaProducer) -> None:
        with self._lock:
            if self._producer is producer:
                self._producer = None
        with contextlib.suppress(KafkaError):  # closing a producer whose broker is gone times out
            producer.close(timeout=0)

    def publish(self, events: Sequence[ScoreEvent]) -> None:
        self._publish_records([(record_key(event), encode_record(event)) for event in events])

    def _publish_records(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        timeout = self._settings.publish_timeout_seconds(self._seconds_left())
        if timeout <= 0:
            raise BrokerUnavailable("no time left in this invocation to wait for Kafka")
        deadline = time.monotonic() + timeout
        producer = self._get_producer(deadline)
        try:
            # kafka-python reads max_block_ms on every send, where it bounds the wait for the
            # topic's metadata: what is left of this publish's time goes there.
            producer.config["max_block_ms"] = _ms_until(deadline)
            futures = [producer.send(self._settings.kafka_topic, key=key, value=value) for key, value in records]
            producer.flush(timeout=_seconds_until(deadline))
            for future in futures:
                future.get(timeout=_seconds_until(deadline))
        except (KafkaError, OSError) as error:
            self._discard(producer)
            raise BrokerUnavailable(f"Kafka did not acknowledge the records: {error}") from error

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=5)


class KafkaModerationPublisher(ScoreEventPublisher):
    """The ModerationPublisher port (shared/application/moderation_publisher.py) on the score topic:
    each action keyed by its player's user id, with the same idempotent producer and time bounds."""

    client_id = "leaderboard-moderation"

    def publish_moderation(self, actions: Sequence[ModerationAction]) -> None:
        self._publish_records([(record_key_for_action(action), encode_moderation(action)) for action in actions])


def _seconds_until(deadline: float) -> float:
    return max(0.001, deadline - time.monotonic())


def _ms_until(deadline: float) -> int:
    return max(1, int(_seconds_until(deadline) * 1000))
