"""Helpers for the live push tests: a websockets client, scores for the current period, and
waiting for the notifier to have handled everything reported so far."""

from __future__ import annotations

import json
import uuid
from typing import Any

from websockets.sync.client import ClientConnection, connect

from local_runtime.stack import RunningStack
from shared.domain.timestamps import epoch_ms_to_rfc3339, now_ms
from tests.support.http_api import Api
from tests.support.waiting import wait_for

LIVE_CONNECTIONS_PER_IP = 4  # the live tests' stack: low, so the throttle is reachable


def open_live(stack: RunningStack) -> ClientConnection:
    return connect(stack.live_url, open_timeout=10, max_size=None)


def subscribe(ws: ClientConnection, window: str = "monthly", user_id: str | None = None) -> dict[str, Any]:
    """Subscribe and return the top the server answers with."""
    message: dict[str, Any] = {"action": "subscribe", "window": window}
    if user_id is not None:
        message["user_id"] = user_id
    ws.send(json.dumps(message))
    return next_message(ws, "top")


def next_message(ws: ClientConnection, kind: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """The next message (of type `kind`, skipping others); fails the test after `timeout` seconds."""
    while True:
        try:
            document: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
        except TimeoutError:
            raise AssertionError(f"no {kind or 'message'} pushed within {timeout:.0f} s") from None
        if kind is None or document["type"] == kind:
            return document


def post_score(api: Api, user_id: str, points: int) -> None:
    body = {
        "match_id": uuid.uuid4().hex,
        "user_id": user_id,
        "points": points,
        "occurred_at": epoch_ms_to_rfc3339(now_ms()),
    }
    status, answer = api.post("/v1/scores", body)
    assert status == 202, answer


def post_scores(api: Api, scores: list[tuple[str, int]]) -> None:
    at = epoch_ms_to_rfc3339(now_ms())
    batch = [
        {"match_id": uuid.uuid4().hex, "user_id": user, "points": points, "occurred_at": at} for user, points in scores
    ]
    for start in range(0, len(batch), 500):
        status, answer = api.post("/v1/scores/batch", {"scores": batch[start : start + 500]})
        assert status == 202, answer


def notifier_idle(stack: RunningStack) -> bool:
    trigger = stack.notifier_trigger
    return trigger.handled == trigger.invocations and trigger.pending_messages() == 0


def reports_handled(stack: RunningStack) -> int:
    """How many batches of change reports the notifier has handled: read it before posting."""
    return stack.notifier_trigger.handled


def wait_until_pushed(stack: RunningStack, api: Api, user_id: str, points: int, *, handled_before: int) -> None:
    """Until `user_id` has `points` on the monthly board and the notifier has handled the reports
    sent since `handled_before` (reports_handled before the post)."""

    def applied() -> bool:
        status, body = api.get(f"/v1/leaderboards/monthly/users/{user_id}")
        return status == 200 and body["points"] == points

    wait_for(applied, what=f"{user_id} at {points} points")
    # The report follows the applied batch; pushes happen inside the invocation that handles it.
    wait_for(
        lambda: stack.notifier_trigger.handled > handled_before and notifier_idle(stack), what="the notifier to run"
    )
