"""Runtime configuration, read only from environment variables (set by template.yaml's Globals)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from shared.adapters.redis_client import RedisTimeouts
from shared.domain.boards import (
    DAY_MS,
    DEFAULT_GRACE_MS,
    DEFAULT_RETENTION_MS,
    DEFAULT_WINDOWS,
    MAX_GRACE_MS,
    MAX_RETENTION_MS,
    BoardSchedule,
    Window,
    parse_windows,
)
from shared.domain.events import MAX_EVENTS_PER_BATCH, ScoreLimits
from shared.domain.sharding import parse_board_shards

# Time budgets. Every wait a request can make is bounded, and the bounds nest:
#   API Gateway's integration limit > the function's Timeout > the sum of the waits + an answer margin.
# A write waits for the ingest ledger twice (claim, then confirm or release) and for Kafka once; a
# read waits for Redis once. Should a wait still outgrow the invocation, Lambda kills it before the
# 503 is sent and the client sees API Gateway's 502/504 instead.
API_GATEWAY_TIMEOUT_SECONDS = 29.0  # REST API integration limit
ANSWER_MARGIN_SECONDS = 1.0  # time left after the last wait to build and send the answer
LEDGER_CALLS_PER_WRITE = 2
# ASCII only: int() and float() would also take other scripts' digits and underscores ('٣_000').
_INTEGER = re.compile(r"-?[0-9]{1,18}")
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9})?")


def _int(env: Mapping[str, str], name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not _INTEGER.fullmatch(raw):
        raise ValueError(f"environment variable {name} must be an integer in ASCII digits, got {raw!r}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"environment variable {name} must be {bounds}, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not _DECIMAL.fullmatch(raw):
        raise ValueError(f"environment variable {name} must be a number of seconds in ASCII digits, got {raw!r}")
    value = float(raw)
    if not low <= value <= high:
        raise ValueError(f"environment variable {name} must be {low:g}..{high:g} seconds, got {value:g}")
    return value


def _grace_by_window(env: Mapping[str, str]) -> dict[Window, int]:
    fallback_seconds = env.get("LATE_EVENT_GRACE_SECONDS", "").strip()
    most = MAX_GRACE_MS // 1000
    grace: dict[Window, int] = {}
    for window, default_ms in DEFAULT_GRACE_MS.items():
        default_seconds = (
            _int(env, "LATE_EVENT_GRACE_SECONDS", default_ms // 1000, 0, most)
            if fallback_seconds
            else default_ms // 1000
        )
        grace[window] = _int(env, f"LATE_EVENT_GRACE_{window.upper()}_SECONDS", default_seconds, 0, most) * 1000
    return grace


def _retention_by_window(env: Mapping[str, str]) -> dict[Window, int]:
    """BOARD_RETENTION_<WINDOW>_DAYS per calendar window; 0 keeps closed boards."""
    return {
        window: _int(env, f"BOARD_RETENTION_{window.upper()}_DAYS", default_ms // DAY_MS, 0, MAX_RETENTION_MS // DAY_MS)
        * DAY_MS
        for window, default_ms in DEFAULT_RETENTION_MS.items()
    }


def _max_points_per_event(env: Mapping[str, str], default: int, windows: tuple[Window, ...]) -> int:
    """One event alone must fit on every enabled board: at most the tightest score encoding's largest total."""
    cap = min(window.codec.max_points for window in windows)
    value = _int(env, "MAX_POINTS_PER_EVENT", default, 1)
    if value > cap:
        tightest = ", ".join(window.value for window in windows if window.codec.max_points == cap)
        raise ValueError(
            f"environment variable MAX_POINTS_PER_EVENT must be at most {cap}, got {value}: the largest total "
            f"a board of the enabled window(s) {tightest} holds (LEADERBOARD_WINDOWS)"
        )
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
    kafka_send_timeout_seconds: int = 8
    aws_region: str = "us-east-1"  # signs MSK IAM tokens; Lambda sets AWS_REGION
    dead_letter_queue_url: str = ""
    max_points_per_event: int = 10_000
    max_events_per_batch: int = 500
    max_future_skew_seconds: int = 300
    windows: tuple[Window, ...] = parse_windows(DEFAULT_WINDOWS)
    # Per calendar window: LATE_EVENT_GRACE_<WINDOW>_SECONDS, else LATE_EVENT_GRACE_SECONDS when set, else
    # the window's default (daily 2 h, weekly 1 day, monthly 3 days).
    late_event_grace_ms_by_window: dict[Window, int] = field(default_factory=lambda: dict(DEFAULT_GRACE_MS))
    # How long a closed board stays in Redis: BOARD_RETENTION_<WINDOW>_DAYS (daily 14, weekly 56, monthly 0: kept).
    board_retention_ms_by_window: dict[Window, int] = field(default_factory=lambda: dict(DEFAULT_RETENTION_MS))
    idempotency_window_seconds: int = 3600
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 1000
    redis_socket_timeout_seconds: float = 2.0
    redis_retries: int = 3
    metrics_namespace: str = "Leaderboard"  # the template sets POWERTOOLS_METRICS_NAMESPACE to the same
    # Closed boards' archive (docs/ARCHIVE.md): the S3 bucket ("" = no archive), the updater's consumer
    # group whose progress the closer waits for, and how many periods an archived board stays in Redis.
    archive_bucket: str = ""
    updater_consumer_group: str = ""
    archive_hot_periods: int = 2
    # The MSK cluster's ARN, which scopes the partitions' names in the boards' watermarks (a board
    # rebuild by replay names them as the updater does); "" for self-managed Kafka.
    kafka_cluster_arn: str = ""
    # Live push (docs/LIVE.md): where the updater reports changed boards ("" reports nothing), the
    # WebSocket API's management endpoint, and the connection registry's bounds.
    changes_queue_url: str = ""
    live_endpoint_url: str = ""
    live_connections_per_ip: int = 20
    live_connection_ttl_seconds: int = 7200  # API Gateway closes a WebSocket after 2 h
    # Moderation (docs/MODERATION.md): the DynamoDB table of the audit trail ("" = no admin routes).
    moderation_audit_table: str = ""
    # Sorted sets per board, by window (BOARD_SHARDS, e.g. "alltime=16"; docs/BOARDS.md#sharded-boards).
    board_shards: dict[Window, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        windows = parse_windows(
            env.get("LEADERBOARD_WINDOWS", "").strip() or DEFAULT_WINDOWS,
            setting="environment variable LEADERBOARD_WINDOWS",
        )
        return cls(
            redis_url=env.get("REDIS_URL") or defaults.redis_url,
            redis_secret_arn=env.get("REDIS_SECRET_ARN", "").strip(),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or defaults.kafka_bootstrap_servers,
            kafka_topic=env.get("KAFKA_TOPIC") or defaults.kafka_topic,
            kafka_security_protocol=(env.get("KAFKA_SECURITY_PROTOCOL") or defaults.kafka_security_protocol).upper(),
            kafka_allow_plaintext_remote=_flag(env, "KAFKA_ALLOW_PLAINTEXT_REMOTE"),
            kafka_send_timeout_seconds=_int(
                env,
                "KAFKA_SEND_TIMEOUT_SECONDS",
                defaults.kafka_send_timeout_seconds,
                1,
                int(API_GATEWAY_TIMEOUT_SECONDS),
            ),
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or defaults.aws_region,
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL") or defaults.dead_letter_queue_url,
            max_points_per_event=_max_points_per_event(env, defaults.max_points_per_event, windows),
            max_events_per_batch=_int(
                env, "MAX_EVENTS_PER_BATCH", defaults.max_events_per_batch, 1, MAX_EVENTS_PER_BATCH
            ),
            max_future_skew_seconds=_int(env, "MAX_FUTURE_SKEW_SECONDS", defaults.max_future_skew_seconds),
            windows=windows,
            late_event_grace_ms_by_window=_grace_by_window(env),
            board_retention_ms_by_window=_retention_by_window(env),
            idempotency_window_seconds=_int(env, "IDEMPOTENCY_WINDOW_SECONDS", defaults.idempotency_window_seconds),
            redis_wait_replicas=_int(env, "REDIS_WAIT_REPLICAS", defaults.redis_wait_replicas),
            redis_wait_timeout_ms=_int(env, "REDIS_WAIT_TIMEOUT_MS", defaults.redis_wait_timeout_ms),
            redis_socket_timeout_seconds=_seconds(
                env, "REDIS_SOCKET_TIMEOUT_SECONDS", defaults.redis_socket_timeout_seconds, 0.05, 60
            ),
            redis_retries=_int(env, "REDIS_RETRIES", defaults.redis_retries, 0, 10),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or defaults.metrics_namespace,
            archive_bucket=env.get("ARCHIVE_BUCKET", "").strip(),
            updater_consumer_group=env.get("UPDATER_CONSUMER_GROUP", "").strip(),
            archive_hot_periods=_int(env, "ARCHIVE_HOT_PERIODS", defaults.archive_hot_periods, 0, 1000),
            kafka_cluster_arn=env.get("KAFKA_CLUSTER_ARN", "").strip(),
            changes_queue_url=env.get("CHANGES_QUEUE_URL", "").strip(),
            live_endpoint_url=env.get("LIVE_ENDPOINT_URL", "").strip(),
            live_connections_per_ip=_int(env, "LIVE_CONNECTIONS_PER_IP", defaults.live_connections_per_ip, 1, 100_000),
            live_connection_ttl_seconds=_int(
                env, "LIVE_CONNECTION_TTL_SECONDS", defaults.live_connection_ttl_seconds, 60, 86_400
            ),
            moderation_audit_table=env.get("MODERATION_AUDIT_TABLE", "").strip(),
            board_shards=parse_board_shards(
                env.get("BOARD_SHARDS", ""), windows, setting="environment variable BOARD_SHARDS"
            ),
        )

    def score_limits(self) -> ScoreLimits:
        return ScoreLimits(
            max_points_per_event=self.max_points_per_event,
            max_future_skew_ms=self.max_future_skew_seconds * 1000,
            board_schedule=self.board_schedule(),
            max_events_per_batch=self.max_events_per_batch,
        )

    def board_schedule(self) -> BoardSchedule:
        return BoardSchedule(
            self.windows, dict(self.late_event_grace_ms_by_window), dict(self.board_retention_ms_by_window)
        )

    def redis_timeouts(self) -> RedisTimeouts:
        return RedisTimeouts(socket_seconds=self.redis_socket_timeout_seconds, retries=self.redis_retries)

    def request_budget_seconds(self, *, writes: bool) -> float:
        """The longest an API request can take with Redis and Kafka stalled, its error answer included."""
        redis_call = self.redis_timeouts().worst_case_seconds()
        if writes:
            return LEDGER_CALLS_PER_WRITE * redis_call + self.kafka_send_timeout_seconds + ANSWER_MARGIN_SECONDS
        return redis_call + ANSWER_MARGIN_SECONDS

    def timeout_problems(self, function_timeout_seconds: float, *, writes: bool) -> list[str]:
        """Why these settings do not nest inside an API function with this Timeout; empty if they do."""
        budget = self.request_budget_seconds(writes=writes)
        problems = []
        if function_timeout_seconds >= API_GATEWAY_TIMEOUT_SECONDS:
            problems.append(
                f"Timeout {function_timeout_seconds:g} s must be under API Gateway's "
                f"{API_GATEWAY_TIMEOUT_SECONDS:g} s integration limit"
            )
        if budget > function_timeout_seconds:
            problems.append(
                f"Redis and Kafka waits can take {budget:.1f} s with the answer, "
                f"more than the function's Timeout of {function_timeout_seconds:g} s"
            )
        return problems

    def check_request_budget(self, *, writes: bool) -> None:
        """Refuse, at cold start, waits that could never be answered in time behind API Gateway."""
        budget = self.request_budget_seconds(writes=writes)
        if budget >= API_GATEWAY_TIMEOUT_SECONDS:
            raise ValueError(
                f"Redis and Kafka waits can take {budget:.1f} s, over API Gateway's "
                f"{API_GATEWAY_TIMEOUT_SECONDS:g} s limit: lower KAFKA_SEND_TIMEOUT_SECONDS, "
                "REDIS_SOCKET_TIMEOUT_SECONDS or REDIS_RETRIES"
            )

    def publish_timeout_seconds(self, invocation_seconds_left: float | None = None) -> float:
        """How long one publish may wait for Kafka: the configured timeout, cut so that what is
        left of the invocation still holds the ledger update and the answer, or failing that at
        least the answer. 0: not even that."""
        timeout = float(self.kafka_send_timeout_seconds)
        if invocation_seconds_left is None:
            return timeout
        ledger_update = self.redis_timeouts().worst_case_seconds()
        for reserve in (ledger_update + ANSWER_MARGIN_SECONDS, ANSWER_MARGIN_SECONDS):
            if invocation_seconds_left > reserve:
                return min(timeout, invocation_seconds_left - reserve)
        return 0.0
