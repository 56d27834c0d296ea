"""Handlers invoked in a clean environment (no AWS_REGION, no POWERTOOLS_METRICS_NAMESPACE) finish
their work and answer: the updater applies a hand-written MSK event, ingest accepts a score."""

from pathlib import Path

from local_runtime.kafka_admin import ensure_topic
from local_runtime.servers import LocalServers, RedisServer
from tests.support.direct_reads import board_points
from tests.support.handler_subprocess import clean_environment, run_handler
from tests.support.local_stack import fresh_name
from tests.support.paths import EVENTS_DIR


def test_updater_applies_a_sample_batch_and_answers(tmp_path: Path) -> None:
    redis_server = RedisServer.start(tmp_path)
    try:
        environment = clean_environment(REDIS_URL=redis_server.url)
        finished, answer = run_handler("score_updater", EVENTS_DIR / "kafka_batch.json", environment)
        assert finished.returncode == 0, finished.stderr
        assert answer == {"batchItemFailures": []}
        assert board_points(redis_server.url, "2026-11") == {"alice": 6, "bob": 5, "dave": 7}
    finally:
        redis_server.stop()


def test_ingest_accepts_the_sample_score_and_answers(servers: LocalServers) -> None:
    topic = fresh_name("defaults")
    ensure_topic(servers.kafka_bootstrap, topic, 1)
    environment = clean_environment(
        REDIS_URL=servers.redis_url, KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap, KAFKA_TOPIC=topic
    )
    finished, answer = run_handler("match_ingest", EVENTS_DIR / "post_score.json", environment)
    assert finished.returncode == 0, finished.stderr
    assert answer is not None and answer["statusCode"] == 202, answer
