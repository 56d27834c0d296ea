"""No secret reaches the logs: not the Redis password in REDIS_URL, not the x-api-key.

One stack runs against a password-protected redis-server with every log turned up (DEBUG, the
Powertools dev mode, event logging asked for by environment), then serves the whole path and its
error paths: accepted and refused writes, the updater applying them, reads, a wrong Redis
password, and Redis going away. Everything the process printed or logged is then searched.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from local_runtime.lambda_host import LambdaContext, environment_overlay, load_handler
from local_runtime.servers import LocalServers, RedisServer
from local_runtime.stack import RunningStack
from shared.domain.boards import Window
from shared.domain.timestamps import now_ms
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.paths import REPO_ROOT
from tests.support.sample_events import load_event
from tests.support.waiting import wait_for

pytestmark = pytest.mark.security

PASSWORD = f"redis-pw-{uuid.uuid4().hex}"
WRONG_PASSWORD = f"not-the-pw-{uuid.uuid4().hex}"
API_KEY = f"api-key-{uuid.uuid4().hex}"
SECRETS = (PASSWORD, WRONG_PASSWORD, API_KEY)


@pytest.fixture
def protected_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer.start(tmp_path)
    try:
        redis.Redis(port=server.port).config_set("requirepass", PASSWORD)
        yield server
    finally:
        server.stop()


def redis_url(server: RedisServer, password: str) -> str:
    return f"redis://:{password}@127.0.0.1:{server.port}/0"


def invoke_with_wrong_password(server: RedisServer, function: str, sample: str) -> int:
    """A handler whose REDIS_URL carries the wrong password, called directly."""
    environment = {
        "REDIS_URL": redis_url(server, WRONG_PASSWORD),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "KAFKA_SEND_TIMEOUT_SECONDS": "1",
    }
    with environment_overlay(environment):
        handler = load_handler(REPO_ROOT / "functions" / function / "app.py", repo_root=REPO_ROOT)
    event = load_event(sample)
    event["headers"]["x-api-key"] = API_KEY
    return int(handler(event, LambdaContext(function))["statusCode"])


def test_no_secret_in_any_log(
    servers: LocalServers,
    protected_redis: RedisServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    monkeypatch.setenv("POWERTOOLS_EVENT_HANDLER_DEBUG", "true")
    environ = own_servers_environ(
        REDIS_URL=redis_url(protected_redis, PASSWORD),
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
        INGEST_API_KEY=API_KEY,
        POWERTOOLS_LOG_LEVEL="DEBUG",
        POWERTOOLS_DEV="true",
        POWERTOOLS_METRICS_DISABLED="false",
    )
    stack: RunningStack = start_stack(environ, tmp_path / "stack", trigger_settings={"max_backoff_seconds": 0.5})
    try:
        api = Api(stack.api_url, API_KEY)
        user = f"hygiene-{uuid.uuid4().hex[:8]}"
        assert api.post("/v1/scores", {"match_id": "m-1", "user_id": user, "points": 2})[0] == 202
        assert api.post("/v1/scores", {"match_id": "m-2", "user_id": user}, key="wrong")[0] == 403
        assert api.post("/v1/scores", {"match_id": "m-3", "user_id": user}, key=None)[0] == 401
        assert api.post("/v1/scores", {"match_id": "", "user_id": user})[0] == 400
        player = f"/v1/leaderboards/monthly/users/{user}"
        wait_for(lambda: api.get(player)[0] == 200, what="the score on the board")
        assert api.get(f"/v1/leaderboards/monthly/top?period={Window.MONTHLY.current(now_ms()).period}")[0] == 200
        assert api.get("/v1/leaderboards/monthly/users/nobody-at-all")[0] == 404

        assert invoke_with_wrong_password(protected_redis, "leaderboard_query", "get_top.json") == 503
        assert invoke_with_wrong_password(protected_redis, "match_ingest", "post_score.json") == 503

        protected_redis.kill()
        assert api.get(player)[0] == 503
        failures_before = stack.trigger.counters.failures
        assert api.post("/v1/scores", {"match_id": "m-4", "user_id": user})[0] == 202
        wait_for(lambda: stack.trigger.counters.failures > failures_before, what="the updater to fail a batch")
    finally:
        stack.stop()

    captured = capfd.readouterr()
    logged = "\n".join([captured.out, captured.err, caplog.text, *(record.getMessage() for record in caplog.records)])
    assert "redis unavailable" in logged, "the error paths were logged at all"
    assert "WRONGPASS" in logged or "invalid username-password" in logged
    for secret in SECRETS:
        assert secret not in logged
