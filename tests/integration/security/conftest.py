"""Security tests run the stack with the deployed defaults: each board closes to late events after the
template's grace for its window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from tests.support.local_stack import GRACE_VARIABLES, own_servers_environ, start_stack


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = own_servers_environ(
        REDIS_URL=servers.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
    )
    for name in GRACE_VARIABLES:  # the template's values apply
        del environ[name]
    running = start_stack(environ, tmp_path_factory.mktemp("security-stack"))
    try:
        yield running
    finally:
        running.stop()
