"""Timeouts that fit inside each other: API Gateway's limit > each function's Timeout > its waits."""

from __future__ import annotations

import pytest

from local_runtime.template import LocalTemplate, load_template
from shared.adapters.moderation_audit import ADMIN_CALL_WORST_SECONDS, ADMIN_CALLS_PER_WRITE
from shared.adapters.redis_client import RedisTimeouts
from shared.adapters.settings import (
    ANSWER_MARGIN_SECONDS,
    API_GATEWAY_TIMEOUT_SECONDS,
    LEDGER_CALLS_PER_WRITE,
    Settings,
)
from tests.support.paths import REPO_ROOT

TEMPLATE: LocalTemplate = load_template(REPO_ROOT / "template.yaml")
API_FUNCTIONS = {"MatchIngestFunction": True, "LeaderboardQueryFunction": False}  # logical id -> writes


def function_settings(logical_id: str) -> Settings:
    """The settings a deployed function reads: the template's environment for it, nothing else."""
    return Settings.from_env(TEMPLATE.function(logical_id).environment)


@pytest.mark.parametrize(("logical_id", "writes"), API_FUNCTIONS.items())
def test_each_api_function_answers_within_its_timeout_and_the_gateway_limit(logical_id: str, writes: bool) -> None:
    spec = TEMPLATE.function(logical_id)
    settings = function_settings(logical_id)
    assert settings.timeout_problems(spec.timeout_seconds, writes=writes) == []
    assert settings.request_budget_seconds(writes=writes) <= spec.timeout_seconds < API_GATEWAY_TIMEOUT_SECONDS


def test_the_ingest_budget_counts_both_ledger_calls_and_the_kafka_send() -> None:
    settings = function_settings("MatchIngestFunction")
    redis_call = settings.redis_timeouts().worst_case_seconds()
    expected = LEDGER_CALLS_PER_WRITE * redis_call + settings.kafka_send_timeout_seconds + ANSWER_MARGIN_SECONDS
    assert settings.request_budget_seconds(writes=True) == pytest.approx(expected)
    assert settings.kafka_send_timeout_seconds < TEMPLATE.function("MatchIngestFunction").timeout_seconds


def test_the_updater_outlasts_a_stalled_redis_call() -> None:
    spec = TEMPLATE.function("ScoreUpdaterFunction")
    settings = function_settings("ScoreUpdaterFunction")
    assert settings.redis_timeouts().worst_case_seconds() + ANSWER_MARGIN_SECONDS < spec.timeout_seconds
    assert settings.redis_wait_timeout_ms / 1000 < settings.redis_socket_timeout_seconds, "WAIT answers in time"


def test_the_built_in_defaults_fit_behind_api_gateway() -> None:
    defaults = Settings()
    for writes in (True, False):
        defaults.check_request_budget(writes=writes)
        assert defaults.request_budget_seconds(writes=writes) < API_GATEWAY_TIMEOUT_SECONDS


def test_waits_that_cannot_fit_behind_api_gateway_are_refused_at_cold_start() -> None:
    settings = Settings.from_env({"KAFKA_SEND_TIMEOUT_SECONDS": "20", "REDIS_SOCKET_TIMEOUT_SECONDS": "2"})
    with pytest.raises(ValueError, match="KAFKA_SEND_TIMEOUT_SECONDS"):
        settings.check_request_budget(writes=True)
    settings.check_request_budget(writes=False)  # a read does not wait for Kafka


def test_a_timeout_equal_to_the_kafka_wait_is_reported() -> None:
    settings = Settings.from_env({"KAFKA_SEND_TIMEOUT_SECONDS": "10"})
    problems = settings.timeout_problems(10, writes=True)
    assert len(problems) == 1 and "more than the function's Timeout of 10 s" in problems[0]
    assert "integration limit" in settings.timeout_problems(API_GATEWAY_TIMEOUT_SECONDS, writes=False)[0]


@pytest.mark.parametrize(
    ("socket_seconds", "retries"),
    [(2.0, 3), (1.0, 1), (0.5, 0), (1.0, 6)],
)
def test_a_redis_call_waits_one_socket_timeout_per_attempt_plus_the_backoffs(
    socket_seconds: float, retries: int
) -> None:
    timeouts = RedisTimeouts(socket_seconds=socket_seconds, retries=retries)
    backoffs = [
        min(timeouts.backoff_cap_seconds, timeouts.backoff_base_seconds * 2**failure)
        for failure in range(1, retries + 1)
    ]
    assert timeouts.worst_case_seconds() == pytest.approx((retries + 1) * socket_seconds + sum(backoffs))
    assert timeouts.retry().get_retries() == retries


def test_the_kafka_wait_is_cut_to_what_the_invocation_has_left() -> None:
    settings = Settings.from_env(
        {"KAFKA_SEND_TIMEOUT_SECONDS": "8", "REDIS_SOCKET_TIMEOUT_SECONDS": "1", "REDIS_RETRIES": "1"}
    )
    after_publish = settings.redis_timeouts().worst_case_seconds() + ANSWER_MARGIN_SECONDS
    assert settings.publish_timeout_seconds(None) == 8
    assert settings.publish_timeout_seconds(60) == 8
    assert settings.publish_timeout_seconds(after_publish + 3) == pytest.approx(3)
    # Not enough left for the ledger update: keep at least the time to answer.
    assert settings.publish_timeout_seconds(ANSWER_MARGIN_SECONDS + 0.5) == pytest.approx(0.5)
    assert settings.publish_timeout_seconds(ANSWER_MARGIN_SECONDS / 2) == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("REDIS_SOCKET_TIMEOUT_SECONDS", "soon"), ("REDIS_SOCKET_TIMEOUT_SECONDS", "0"), ("REDIS_RETRIES", "-1")],
)
def test_unusable_timeouts_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


@pytest.mark.moderation
def test_an_admin_write_answers_within_its_timeout_with_dynamodb_s3_and_kafka_stalled() -> None:
    spec = TEMPLATE.function("ModerationAdminFunction")
    settings = function_settings("ModerationAdminFunction")
    worst = (
        ADMIN_CALLS_PER_WRITE * ADMIN_CALL_WORST_SECONDS + settings.kafka_send_timeout_seconds + ANSWER_MARGIN_SECONDS
    )
    assert worst <= spec.timeout_seconds < API_GATEWAY_TIMEOUT_SECONDS
    assert settings.request_budget_seconds(writes=False) <= spec.timeout_seconds  # the status read's Redis call
