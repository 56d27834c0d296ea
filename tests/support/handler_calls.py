"""The handlers loaded in this process with Redis and Kafka pointed at closed ports, and calls on sample events.

Bad input must be answered before any I/O: were Redis or Kafka touched, the answer would be a 503.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

from local_runtime.lambda_host import LambdaContext, environment_overlay, load_handler
from shared.application.queries import BoardReader
from shared.domain.boards import Board, Window
from tests.support.paths import REPO_ROOT
from tests.support.sample_events import load_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
CLOSED = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "KAFKA_SEND_TIMEOUT_SECONDS": "1",
    "DEAD_LETTER_QUEUE_URL": "",
}


def load(name: str) -> Handler:
    with environment_overlay(CLOSED):
        return load_handler(REPO_ROOT / "functions" / name / "app.py", repo_root=REPO_ROOT)


def sample(name: str) -> dict[str, Any]:
    return load_event(name)


def call(handler: Handler, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handler(event, LambdaContext("test"))
    return int(response["statusCode"]), json.loads(response["body"])


def with_body(name: str, body: object) -> dict[str, Any]:
    event = sample(name)
    event["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


def with_query(name: str, **params: str) -> dict[str, Any]:
    event = sample(name)
    event["queryStringParameters"] = {**(event["queryStringParameters"] or {}), **params}
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in event["queryStringParameters"].items()}
    return event


class _BoardsByName:
    """A BoardReader of this process' `shared` answering for a handler's own copy of `shared` (see
    local_runtime.lambda_host.load_handler): boards are matched by window name and period."""

    def __init__(self, reader: BoardReader) -> None:
        self._reader = reader

    @staticmethod
    def _ours(board: Any) -> Board:
        return Window(str(board.window)).parse_period(board.period)

    def page(self, board: Any, offset: int, limit: int, *, count_ahead: bool) -> Any:
        return self._reader.page(self._ours(board), offset, limit, count_ahead=count_ahead)

    def around(self, board: Any, user_id: str, neighbours: int, *, count_ahead: bool) -> Any:
        return self._reader.around(self._ours(board), user_id, neighbours, count_ahead=count_ahead)

    def existing(self, boards: Sequence[Any]) -> set[Any]:
        held = self._reader.existing([self._ours(board) for board in boards])
        return {board for board in boards if self._ours(board) in held}


def serve_from(query_handler: Handler, reader: BoardReader, now_ms: int) -> None:
    """Has a loaded query handler read its boards from `reader`, with its clock at `now_ms`: its service
    is rebuilt as the handler builds it, from the handler's own copy of `shared`."""
    module = inspect.unwrap(query_handler).__globals__
    module["queries"] = module["LeaderboardQueries"](
        _BoardsByName(reader), module["settings"].windows, clock=lambda: now_ms
    )
