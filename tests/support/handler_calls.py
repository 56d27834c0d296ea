"""The handlers loaded in this process with Redis and Kafka pointed at closed ports, and calls on sample events.

Bad input must be answered before any I/O: were Redis or Kafka touched, the answer would be a 503.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from local_runtime.lambda_host import LambdaContext, environment_overlay, load_handler
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
