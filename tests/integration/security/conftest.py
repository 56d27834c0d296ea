"""Security tests run the stack with the deployed defaults: each board closes to late events after the
template's grace for its window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from tests.support.local_stack import GRACE_VARIABLES, servers_environ, start_stack


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = servers_environ(servers)
    for name in GRACE_VARIABLES:  # the template's values apply
        del environ[name]
    running = start_stack(environ, tmp_path_factory.mktemp("security-stack"))
    try:
        yield running
    finally:
        running.stop()
