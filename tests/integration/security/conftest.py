"""Security tests run the stack with the deployed defaults: late events are refused after 3 days."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from tests.support.local_stack import own_servers_environ, start_stack

DEFAULT_GRACE_SECONDS = "259200"


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = own_servers_environ(
        REDIS_URL=servers.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
        LATE_EVENT_GRACE_SECONDS=DEFAULT_GRACE_SECONDS,
    )
    running = start_stack(environ, tmp_path_factory.mktemp("security-stack"))
    try:
        yield running
    finally:
        running.stop()
