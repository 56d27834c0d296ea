"""Runtime configuration, read only from environment variables (set by template.yaml's Globals)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from error


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic: str = "score-events"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_send_timeout_seconds: int = 10
    dead_letter_queue_url: str = ""
    max_points_per_event: int = 10_000
    max_events_per_batch: int = 500
    max_future_skew_seconds: int = 300
    idempotency_window_seconds: int = 3600
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 1000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            redis_url=env.get("REDIS_URL") or defaults.redis_url,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or defaults.kafka_bootstrap_servers,
            kafka_topic=env.get("KAFKA_TOPIC") or defaults.kafka_topic,
            kafka_security_protocol=env.get("KAFKA_SECURITY_PROTOCOL") or defaults.kafka_security_protocol,
            kafka_send_timeout_seconds=_int(env, "KAFKA_SEND_TIMEOUT_SECONDS", defaults.kafka_send_timeout_seconds),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or defaults.dead_letter_queue_url,
            max_points_per_event=_int(env, "MAX_POINTS_PER_EVENT", defaults.max_points_per_event),
            max_events_per_batch=_int(env, "MAX_EVENTS_PER_BATCH", defaults.max_events_per_batch),
            max_future_skew_seconds=_int(env, "MAX_FUTURE_SKEW_SECONDS", defaults.max_future_skew_seconds),
            idempotency_window_seconds=_int(env, "IDEMPOTENCY_WINDOW_SECONDS", defaults.idempotency_window_seconds),
            redis_wait_replicas=_int(env, "REDIS_WAIT_REPLICAS", defaults.redis_wait_replicas),
            redis_wait_timeout_ms=_int(env, "REDIS_WAIT_TIMEOUT_MS", defaults.redis_wait_timeout_ms),
        )
