"""Real servers for integration tests: redis-server, the Tansu broker and moto, on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack_on
from tests.support.past_months import Month, unused_past_month


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServers]:
    with LocalServers(tmp_path_factory.mktemp("servers"), own_servers_environ()) as running:
        yield running


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with start_stack_on(servers, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def month() -> Month:
    return unused_past_month()


@pytest.fixture
def api(stack: RunningStack) -> Api:
    return Api(stack.api_url, stack.api_key)
