"""Every handler imports in a clean environment: no AWS_REGION, no POWERTOOLS_METRICS_NAMESPACE."""

import pytest

from tests.support.handler_subprocess import clean_environment, run_handler

CLOSED = {"REDIS_URL": "redis://127.0.0.1:1/0", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


@pytest.mark.parametrize("function", ["match_ingest", "leaderboard_query", "score_updater"])
def test_handler_imports_without_region_or_namespace(function: str) -> None:
    finished, _ = run_handler(function, None, clean_environment(**CLOSED))
    assert finished.returncode == 0, finished.stderr
