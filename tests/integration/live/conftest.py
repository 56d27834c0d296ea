"""A stack of its own for the live push tests (they read the current period's boards), emptied
before each test; connections per IP capped low so the throttle is reachable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from local_runtime.stack import RunningStack
from tests.support.http_api import Api
from tests.support.live_client import LIVE_CONNECTIONS_PER_IP, notifier_idle
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = own_servers_environ(LIVE_CONNECTIONS_PER_IP=str(LIVE_CONNECTIONS_PER_IP))
    with start_stack(environ, tmp_path_factory.mktemp("live")) as running:
        yield running


@pytest.fixture
def stack(live_stack: RunningStack) -> RunningStack:
    wait_for(lambda: notifier_idle(live_stack) and not live_stack.live.open_connections(), what="a quiet stack")
    redis.Redis.from_url(live_stack.redis_url).flushdb()
    return live_stack


@pytest.fixture
def api(stack: RunningStack) -> Api:
    return Api(stack.api_url, stack.api_key)
