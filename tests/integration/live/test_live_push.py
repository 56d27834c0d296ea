"""The live push end to end on a local stack, with the `websockets` client: POST a score, the
updater applies it and reports the board, the notifier pushes through the management API, the
local API Gateway writes the frame."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from local_runtime.stack import RunningStack
from shared.adapters.live_state import RedisConnectionRegistry
from shared.adapters.redis_client import create_redis_client
from tests.support.http_api import Api
from tests.support.live_client import (
    LIVE_CONNECTIONS_PER_IP,
    next_message,
    open_live,
    post_score,
    post_scores,
    reports_handled,
    subscribe,
    wait_until_pushed,
)
from tests.support.waiting import wait_for

pytestmark = pytest.mark.live


def player(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


def test_subscribing_answers_with_the_current_top_as_the_http_route_does(stack: RunningStack, api: Api) -> None:
    ann = player("ann")
    before = reports_handled(stack)
    post_score(api, ann, 7)
    wait_until_pushed(stack, api, ann, 7, handled_before=before)
    with open_live(stack) as ws:
        top = subscribe(ws)
    status, http_top = api.get("/v1/leaderboards/monthly/top")
    assert status == 200
    assert isinstance(top.pop("as_of"), int)
    assert top == {"type": "top", "window": "monthly", "period": http_top["period"], "entries": http_top["entries"]}
    assert top["entries"] == [{"rank": 1, "user_id": ann, "points": 7}]


def test_a_posted_score_is_pushed_as_a_new_top(stack: RunningStack, api: Api) -> None:
    bob = player("<img src=x onerror=alert(1)>")
    with open_live(stack) as ws:
        assert subscribe(ws, window="daily")["entries"] == []
        post_score(api, bob, 12)
        pushed = next_message(ws, "top")
    assert pushed["window"] == "daily"
    assert pushed["entries"] == [{"rank": 1, "user_id": bob, "points": 12}]


def test_a_subscribed_player_gets_their_standing_when_passed(stack: RunningStack, api: Api) -> None:
    me, rival = player("me"), player("rival")
    before = reports_handled(stack)
    post_score(api, me, 5)
    wait_until_pushed(stack, api, me, 5, handled_before=before)
    with open_live(stack) as ws:
        ws.send(json.dumps({"action": "subscribe", "window": "monthly", "user_id": me}))
        next_message(ws, "top")
        first = next_message(ws, "standing")
        assert (first["user_id"], first["rank"], first["points"]) == (me, 1, 5)
        post_score(api, rival, 9)  # me does not score, but drops to rank 2
        moved = next_message(ws, "standing")
    assert (moved["user_id"], moved["rank"], moved["points"]) == (me, 2, 5)
    assert [entry["user_id"] for entry in moved["around"]] == [rival, me]


def test_no_push_when_the_top_10_did_not_change(stack: RunningStack, api: Api) -> None:
    leaders = [(player(f"lead{n}"), 1000 - n) for n in range(10)]
    before = reports_handled(stack)
    post_scores(api, leaders)
    wait_until_pushed(stack, api, leaders[-1][0], leaders[-1][1], handled_before=before)
    with open_live(stack) as ws:
        assert len(subscribe(ws)["entries"]) == 10
        low = player("low")
        before = reports_handled(stack)
        post_score(api, low, 1)  # the 11th: the top 10 stays, and nobody watches `low`
        wait_until_pushed(stack, api, low, 1, handled_before=before)
        # The notifier has handled the report (pushes happen within its invocation): nothing came.
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)


def test_a_burst_is_pushed_at_most_once_per_second_and_ends_on_the_last_state(stack: RunningStack, api: Api) -> None:
    runner = player("runner")
    bursts = 12
    with open_live(stack) as ws:
        subscribe(ws, window="weekly")
        started = time.monotonic()
        before = reports_handled(stack)
        for _ in range(bursts):
            post_score(api, runner, 1)  # the top 10 changes every time: runner's points go up by one
            time.sleep(0.05)
        wait_until_pushed(stack, api, runner, bursts, handled_before=before)
        elapsed = time.monotonic() - started
        tops = []
        while True:
            try:
                tops.append(json.loads(ws.recv(timeout=0.2)))
            except TimeoutError:
                break
    assert tops, "no push during the burst"
    assert tops[-1]["entries"] == [{"rank": 1, "user_id": runner, "points": bursts}]
    # One push per second per board, plus the first one at the start of the first second.
    assert len(tops) <= int(elapsed) + 2, f"{len(tops)} pushes in {elapsed:.1f} s"
    assert len(tops) < bursts


def test_a_gone_connection_is_removed_from_the_registry(stack: RunningStack, api: Api) -> None:
    client = create_redis_client(stack.redis_url)
    registry = RedisConnectionRegistry(client, ttl_seconds=3600, max_connections_per_ip=100)
    # A client that vanished without its $disconnect reaching us: registered, but gone from API Gateway.
    ghost = "R2hvc3QtY29ubj0="
    assert registry.open(ghost, "192.0.2.1")
    registry.subscribe(ghost, "monthly", None)
    with open_live(stack) as ws:
        subscribe(ws)
        live_ids = set(stack.live.open_connections())
        assert ghost in registry.connection_ids()
        post_score(api, player("trigger"), 3)
        next_message(ws, "top")
    wait_for(lambda: ghost not in registry.connection_ids(), what="the gone connection to be removed")
    assert ghost not in {s.connection_id for s in registry.subscribers("monthly")}
    assert live_ids  # the live client was registered too; it closed normally ($disconnect)
    wait_for(lambda: not (live_ids & registry.connection_ids()), what="the closed client to be unregistered")


def test_the_connection_over_the_per_ip_limit_is_refused(stack: RunningStack) -> None:
    with contextlib.ExitStack() as opened:
        for _ in range(LIVE_CONNECTIONS_PER_IP):
            opened.enter_context(open_live(stack))
        with pytest.raises(InvalidStatus) as refused:
            open_live(stack)
        assert refused.value.response.status_code == 429
        assert b"too many" in refused.value.response.body.lower()
    wait_for(lambda: not stack.live.open_connections(), what="the connections to close")
    with open_live(stack) as ws:  # a slot is free again
        subscribe(ws)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "invalid_message"),
        (json.dumps({"action": "subscribe", "window": "hourly"}), "unknown_window"),
        (json.dumps({"action": "unsubscribe"}), "unknown_action"),
        (b"\x00\xff binary", "invalid_message"),
        ("x" * 64 * 1024, "message_too_large"),
    ],
)
def test_bad_messages_get_an_error_and_the_connection_still_works(
    stack: RunningStack, message: str | bytes, code: str
) -> None:
    with open_live(stack) as ws:
        ws.send(message)
        error = next_message(ws, "error")
        assert error["code"] == code and error["message"]
        assert subscribe(ws)["type"] == "top"


def test_a_frame_over_api_gateways_limit_closes_only_that_connection(stack: RunningStack) -> None:
    with open_live(stack) as ws:
        ws.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    with open_live(stack) as ws:
        assert subscribe(ws)["type"] == "top"
