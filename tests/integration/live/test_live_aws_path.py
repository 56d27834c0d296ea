"""The notifier's AWS side on moto: the change report through SQS, the push through
`apigatewaymanagementapi` (moto records what a connection was sent; it never answers 410, so gone
connections are tested against the local API Gateway instead), the registry in Redis with its TTL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import boto3
import pytest
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.server import ThreadedMotoServer

from local_runtime.stack import RunningStack
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.change_reports import SqsChangeReporter
from shared.adapters.keys import (
    live_connection_key,
    live_push_claim_key,
    live_standings_key,
    live_top_digest_key,
    live_trailing_key,
)
from shared.adapters.live_push import api_gateway_push
from shared.adapters.live_state import RedisConnectionRegistry, RedisPushMemory
from shared.adapters.redis_client import create_redis_client
from shared.application.live import LiveNotifier
from shared.application.queries import LeaderboardQueries
from shared.domain.board_changes import decode_changes
from shared.domain.boards import Window
from shared.domain.timestamps import now_ms
from tests.support.http_api import Api
from tests.support.live_client import post_score, reports_handled, wait_until_pushed

pytestmark = pytest.mark.live
REGION = "us-east-1"
TTL_SECONDS = 600


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def sent_to(connection_id: str) -> list[dict[str, object]]:
    """What moto's management API recorded for the connection (messages written back to back)."""
    # moto keys connections by the id as it appears in the path: percent-encoded.
    raw = apigatewaymanagementapi_backends[DEFAULT_ACCOUNT_ID][REGION].connections[quote(connection_id, safe="")].data
    decoder, found, position = json.JSONDecoder(), [], 0
    text = raw.decode()
    while position < len(text):
        document, position = decoder.raw_decode(text, position)
        found.append(document)
    return found


def test_a_reported_change_reaches_a_subscriber_through_moto(
    stack: RunningStack, api: Api, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION)
    queue_url = sqs.create_queue(QueueName=f"live-changes-{time.monotonic_ns()}")["QueueUrl"]
    redis_client = create_redis_client(stack.redis_url)
    registry = RedisConnectionRegistry(redis_client, ttl_seconds=TTL_SECONDS, max_connections_per_ip=5)
    queries = LeaderboardQueries(RedisBoardReader(redis_client), tuple(Window), clock=now_ms)
    notifier = LiveNotifier(
        registry, api_gateway_push(moto_url, REGION), RedisPushMemory(redis_client), queries, sleep=time.sleep
    )

    before = reports_handled(stack)
    post_score(api, "cat", 4)
    wait_until_pushed(stack, api, "cat", 4, handled_before=before)
    # The stack's own notifier has seen this board: forget what it pushed and its push claims (held
    # for up to a second), as if this notifier were the first.
    board = Window.MONTHLY.current(now_ms())
    for key in (live_top_digest_key, live_standings_key, live_push_claim_key, live_trailing_key):
        redis_client.delete(key(board))

    connection = f"Q29ubi0{time.monotonic_ns()}="
    assert registry.open(connection, "198.51.100.7")
    registry.subscribe(connection, "monthly", "cat")
    assert 0 < redis_client.ttl(live_connection_key(connection)) <= TTL_SECONDS
    SqsChangeReporter(sqs, queue_url).report({board: {"cat"}}, now_ms())
    (message,) = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    changes, _ = decode_changes(message["Body"])

    tally = notifier.notify(changes)
    assert (tally.top_pushes, tally.standing_pushes, tally.gone) == (1, 1, 0)
    top, standing = sent_to(connection)
    assert int(str(top.pop("as_of"))) <= now_ms()
    assert top == {
        "type": "top",
        "window": "monthly",
        "period": board.period,
        "entries": [{"rank": 1, "user_id": "cat", "points": 4}],
    }
    assert (standing["type"], standing["user_id"], standing["rank"], standing["points"]) == ("standing", "cat", 1, 4)
