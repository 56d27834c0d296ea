"""Runtime configuration, read only from environment variables (set by template.yaml's Globals)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.model import MAX_EVENTS_PER_BATCH, ScoreLimits
from shared.score_codec import MAX_TOTAL_POINTS


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from error
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"environment variable {name} must be {bounds}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True, slots=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_secret_arn: str = ""
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic: str = "score-events"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_allow_plaintext_remote: bool = False  # PLAINTEXT is for loopback brokers unless this is set
    kafka_send_timeout_seconds: int = 10
    aws_region: str = "us-east-1"  # signs MSK IAM tokens; Lambda sets AWS_REGION
    dead_letter_queue_url: str = ""
    max_points_per_event: int = 10_000
    max_events_per_batch: int = 500
    max_future_skew_seconds: int = 300
    late_event_grace_seconds: int = 3 * 86_400
    idempotency_window_seconds: int = 3600
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 1000
    metrics_namespace: str = "Leaderboard"  # the template sets POWERTOOLS_METRICS_NAMESPACE to the same

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            redis_url=env.get("REDIS_URL") or defaults.redis_url,
            redis_secret_arn=env.get("REDIS_SECRET_ARN", "").strip(),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or defaults.kafka_bootstrap_servers,
            kafka_topic=env.get("KAFKA_TOPIC") or defaults.kafka_topic,
            kafka_security_protocol=(env.get("KAFKA_SECURITY_PROTOCOL") or defaults.kafka_security_protocol).upper(),
            kafka_allow_plaintext_remote=_flag(env, "KAFKA_ALLOW_PLAINTEXT_REMOTE"),
            kafka_send_timeout_seconds=_int(env, "KAFKA_SEND_TIMEOUT_SECONDS", defaults.kafka_send_timeout_seconds),
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or defaults.aws_region,
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or defaults.dead_letter_queue_url,
            max_points_per_event=_int(env, "MAX_POINTS_PER_EVENT", defaults.max_points_per_event, 1, MAX_TOTAL_POINTS),
            max_events_per_batch=_int(
                env, "MAX_EVENTS_PER_BATCH", defaults.max_events_per_batch, 1, MAX_EVENTS_PER_BATCH
            ),
            max_future_skew_seconds=_int(env, "MAX_FUTURE_SKEW_SECONDS", defaults.max_future_skew_seconds),
            late_event_grace_seconds=_int(env, "LATE_EVENT_GRACE_SECONDS", defaults.late_event_grace_seconds),
            idempotency_window_seconds=_int(env, "IDEMPOTENCY_WINDOW_SECONDS", defaults.idempotency_window_seconds),
            redis_wait_replicas=_int(env, "REDIS_WAIT_REPLICAS", defaults.redis_wait_replicas),
            redis_wait_timeout_ms=_int(env, "REDIS_WAIT_TIMEOUT_MS", defaults.redis_wait_timeout_ms),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or defaults.metrics_namespace,
        )

    def score_limits(self) -> ScoreLimits:
        return ScoreLimits(
            max_points_per_event=self.max_points_per_event,
            max_future_skew_ms=self.max_future_skew_seconds * 1000,
            late_event_grace_ms=self.late_event_grace_seconds * 1000,
            max_events_per_batch=self.max_events_per_batch,
        )
