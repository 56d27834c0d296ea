"""The query function loaded in this process against a Redis of the caller's choosing, asked as API Gateway would."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_runtime.lambda_host import LambdaContext, load_handler
from tests.support.paths import REPO_ROOT
from tests.support.sample_events import load_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class QueryHandlerApi:
    handler: Handler

    @classmethod
    def load(cls, redis_url: str, **environment: str) -> QueryHandlerApi:
        handler = load_handler(
            REPO_ROOT / "functions" / "leaderboard_query" / "app.py",
            repo_root=REPO_ROOT,
            environment={"REDIS_URL": redis_url, **environment},
        )
        return cls(handler)

    def get(self, path: str, **params: object) -> tuple[int, dict[str, Any]]:
        event = load_event("get_top.json")
        query = {name: str(value) for name, value in params.items()}
        event.update(
            path=path,
            queryStringParameters=query or None,
            multiValueQueryStringParameters={name: [value] for name, value in query.items()} or None,
        )
        response = self.handler(event, LambdaContext("query"))
        return int(response["statusCode"]), json.loads(response["body"])


def entries(answer: dict[str, Any], key: str = "entries") -> list[tuple[int, str, int]]:
    """(rank, user id, points) of each entry an answer lists."""
    return [(entry["rank"], entry["user_id"], entry["points"]) for entry in answer[key]]
