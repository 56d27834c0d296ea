"""BoardRebuildFunction refuses a bad event with a message naming what is wrong, before it touches
Redis, S3 or Kafka (none of which listen here)."""

from __future__ import annotations

from typing import Any

import pytest

from local_runtime.lambda_host import LambdaContext, environment_overlay, load_handler
from tests.support.handler_calls import CLOSED
from tests.support.paths import REPO_ROOT

pytestmark = [pytest.mark.unit, pytest.mark.archive]


@pytest.fixture(scope="module")
def rebuild() -> Any:
    settings = {**CLOSED, "ARCHIVE_BUCKET": "archive", "LEADERBOARD_WINDOWS": "daily,monthly,alltime"}
    with environment_overlay({**settings, "BOARD_SHARDS": "alltime=4"}):
        return load_handler(REPO_ROOT / "functions" / "board_rebuild" / "app.py", repo_root=REPO_ROOT)


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({}, "the event must name the board"),
        ({"window": "daily"}, "the event must name the board"),
        ({"window": "hourly", "period": "2024-03-14"}, "unknown window 'hourly'"),
        ({"window": "weekly", "period": "2024-W10"}, "unknown window 'weekly'"),
        ({"window": "daily", "period": "2024-13-40"}, "daily period must look like"),
        ({"window": "daily", "period": "2024-03-14\x00"}, "daily period must look like"),
        ({"window": "daily", "period": "2024-03-14", "source": "backup"}, "source must be 'archive' or 'replay'"),
        ({"window": "daily", "period": "2024-03-14", "restart": "yes"}, "restart must be true or false"),
        ({"window": "daily", "period": "2024-03-14"}, "the function's timeout leaves no time"),
        ({"window": "alltime", "period": "all"}, "the alltime window is sharded"),
        ({"reshard": {"window": "alltime"}}, "must name the board and shard counts"),
        ({"reshard": {"window": "alltime", "period": "all", "from_shards": 4}}, "to_shards must be a whole"),
        ({"reshard": {"window": "alltime", "period": "all", "from_shards": 4, "to_shards": "8"}}, "to_shards must"),
        ({"reshard": {"window": "alltime", "period": "all", "from_shards": True, "to_shards": 8}}, "from_shards must"),
        ({"reshard": {"window": "alltime", "period": "all", "from_shards": 16, "to_shards": 8}}, "gives the alltime"),
        ({"reshard": {"window": "daily", "period": "2024-03-14", "from_shards": 4, "to_shards": 1}}, "gives the daily"),
        ({"reshard": {"window": "weekly", "period": "2024-W10", "from_shards": 1, "to_shards": 2}}, "unknown window"),
        ({"reshard": {"window": "alltime", "period": "all", "from_shards": 4, "to_shards": 4}}, "both 4"),
        ({"reshard_cleanup": {"window": "alltime", "period": "all", "old_shards": 4}}, "the layout in use is never"),
        ({"reshard_cleanup": {"window": "alltime", "period": "all"}}, "old_shards must be a whole"),
    ],
)
def test_a_bad_event_is_refused_naming_the_problem(rebuild: Any, event: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rebuild(event, LambdaContext("board-rebuild", timeout_seconds=3.0))
