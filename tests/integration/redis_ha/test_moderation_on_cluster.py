"""Moderation on Redis Cluster: each board (with its hidden set, watermarks and applied ids) sits in
its own slot, who is banned in another; the ban and unban under live traffic end with the truth, and a
reset wipes its one board."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from local_runtime.redis_topologies import RedisTopology, running_topology
from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from shared.domain.boards import Window
from shared.domain.moderation import ModerationKind
from tests.support.http_api import Api
from tests.support.local_stack import start_stack_on
from tests.support.moderation import action_now, ban_and_unban_under_traffic, points_on, publish
from tests.support.past_months import Month
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.moderation]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTopology]:
    with running_topology("cluster", tmp_path_factory.mktemp("cluster")) as topology:
        yield topology


@pytest.fixture(scope="module")
def cluster_stack(
    cluster: RedisTopology, servers: LocalServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    with start_stack_on(servers, tmp_path_factory.mktemp("stack"), redis_url=cluster.url) as running:
        yield running


def test_a_ban_and_an_unban_under_live_traffic_end_with_the_truth_on_a_cluster(cluster_stack: RunningStack) -> None:
    ban_and_unban_under_traffic(cluster_stack, rounds_between=3)


def test_a_reset_on_a_cluster_wipes_its_one_board(cluster_stack: RunningStack, month: Month) -> None:
    api, user = Api(cluster_stack.api_url, cluster_stack.api_key), f"reset-{uuid.uuid4().hex[:8]}"
    monthly, day = Window.MONTHLY.parse_period(month.period), Window.DAILY.board_at(month.at(60))
    body = {"match_id": "m1", "user_id": user, "points": 6, "occurred_at": month.at(60)}
    assert api.post("/v1/scores", body)[0] == 202
    publish(cluster_stack, action_now(user, ModerationKind.RESET, window="monthly", period=month.period))
    body = {"match_id": "m2", "user_id": user, "points": 1, "occurred_at": month.at(61)}
    assert api.post("/v1/scores", body)[0] == 202
    wait_for(lambda: points_on(api, day, user) == 7 or None, what="both scores on the day's board")
    assert points_on(api, monthly, user) == 1
