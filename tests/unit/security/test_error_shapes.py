"""Every error a handler answers has the API's shape, whatever raised it: our code, Powertools, or a bug."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote

import pytest
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, RequestEntityTooLargeError

from local_runtime.lambda_host import LambdaContext
from shared.http.api import api_resolver
from tests.support.handler_calls import Handler, call, load, sample

pytestmark = pytest.mark.security

PLAYER = "/v1/leaderboards/monthly/users/"


@pytest.fixture(scope="module")
def query() -> Handler:
    return load("leaderboard_query")


def player_event(encoded_user_id: str) -> dict[str, Any]:
    event = copy.deepcopy(sample("get_player.json"))
    event["path"] = PLAYER + encoded_user_id
    event["pathParameters"] = {"user_id": encoded_user_id}
    return event


def test_a_long_percent_encoded_id_is_checked_once_decoded(query: Handler) -> None:
    """11 emoji: 44 bytes, 132 characters percent-encoded, 11 characters as an id."""
    encoded = quote("🎮" * 11, safe="")
    assert len(encoded) > 128
    status, answer = call(query, player_event(encoded))
    # Redis is a closed port here: a 503 means the id was accepted and the store was asked.
    assert (status, answer["error"]["code"]) == (503, "redis_unavailable")


@pytest.mark.parametrize(
    ("encoded", "reason"),
    [
        (quote("é" * 129, safe=""), "at most 128"),
        ("%FF", "not UTF-8"),
        ("ali%C3", "not UTF-8"),
        ("%20alice", "whitespace"),
        ("ali%E2%80%8Bce", "invisible"),
        ("%CC%81alice", "combining mark"),
    ],
)
def test_a_path_id_breaking_the_id_rule_is_a_400(query: Handler, encoded: str, reason: str) -> None:
    status, answer = call(query, player_event(encoded))
    assert (status, answer["error"]["field"]) == (400, "user_id")
    assert reason in answer["error"]["message"]


def _resolve(app: Any, path: str) -> tuple[int, dict[str, Any]]:
    event = {**copy.deepcopy(sample("get_top.json")), "path": path, "resource": path}
    response = app.resolve(event, LambdaContext("test"))
    return int(response["statusCode"]), json.loads(response["body"])


def test_powertools_errors_and_bugs_answer_in_the_error_shape() -> None:
    app = api_resolver()

    @app.get("/bad")
    def _bad() -> None:
        raise BadRequestError("no good")

    @app.get("/big")
    def _big() -> None:
        raise RequestEntityTooLargeError("too big")

    @app.get("/bug")
    def _bug() -> None:
        raise ZeroDivisionError("a secret detail")

    assert _resolve(app, "/bad") == (400, {"error": {"code": "bad_request", "message": "no good"}})
    assert _resolve(app, "/big") == (413, {"error": {"code": "payload_too_large", "message": "too big"}})
    assert _resolve(app, "/bug") == (500, {"error": {"code": "internal_error", "message": "internal server error"}})
    assert _resolve(app, "/nowhere") == (404, {"error": {"code": "not_found", "message": "no such route"}})
