"""Redis topologies for integration tests: standalone, Sentinel and Cluster behind one REDIS_URL.

`redis_topology` is parametrized over the three (Sentinel cases carry the `sentinel` marker, Cluster
cases `cluster`), so a test that takes it, or `topology_stack`, runs once per topology:

    def test_something(topology_stack: RunningStack) -> None: ...
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local_runtime.redis_topologies import RedisTopology, running_topology
from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from tests.support.local_stack import start_stack_on

TOPOLOGIES = [
    pytest.param("standalone", id="standalone"),
    pytest.param("sentinel", id="sentinel", marks=pytest.mark.sentinel),
    pytest.param("cluster", id="cluster", marks=pytest.mark.cluster),
]


@pytest.fixture(scope="module", params=TOPOLOGIES)
def redis_topology(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTopology]:
    name: str = request.param
    with running_topology(name, tmp_path_factory.mktemp(name)) as topology:
        yield topology


@pytest.fixture(scope="module")
def topology_stack(
    redis_topology: RedisTopology, servers: LocalServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """The whole local service on `redis_topology`, with the session's Kafka broker and moto server."""
    with start_stack_on(servers, tmp_path_factory.mktemp("stack"), redis_url=redis_topology.url) as running:
        yield running
