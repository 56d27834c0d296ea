"""What both HTTP functions share: the error shape and the mapping from failures to status codes.

Every error is {"error": {"code": str, "message": str, "field"?: str}}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from redis.exceptions import RedisError

from shared.model import InvalidInput

logger = Logger(child=True)

MAX_BODY_BYTES = 1024 * 1024
_LOCATIONS = {"body", "query", "path", "header"}


def error_response(status: int, code: str, message: str, **details: Any) -> Response[dict[str, Any]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message, **details}},
    )


def _field_of(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_response(error: RequestValidationError) -> Response[dict[str, Any]]:
    problems = [
        {"field": _field_of(problem.get("loc", ())), "message": str(problem.get("msg", "is invalid"))}
        for problem in error.errors()
    ]
    first = problems[0] if problems else {"field": "body", "message": "is invalid"}
    if first["message"].startswith("JSON decode error"):
        return error_response(HTTPStatus.BAD_REQUEST, "malformed_json", "request body is not valid JSON", field="body")
    return error_response(
        HTTPStatus.BAD_REQUEST,
        "invalid_request",
        f"{first['field']}: {first['message']}",
        field=first["field"],
        problems=problems[:20],
    )


def install_error_handlers(app: APIGatewayRestResolver) -> None:
    """Map validation failures, caller mistakes and unavailable dependencies to the contract's errors."""

    @app.exception_handler(RequestValidationError)
    def _request_invalid(error: RequestValidationError) -> Response[dict[str, Any]]:
        return validation_response(error)

    @app.exception_handler(InvalidInput)
    def _input_invalid(error: InvalidInput) -> Response[dict[str, Any]]:
        return error_response(
            HTTPStatus.BAD_REQUEST, "invalid_request", f"{error.field}: {error.message}", field=error.field
        )

    @app.exception_handler(RedisError)
    def _redis_unavailable(error: RedisError) -> Response[dict[str, Any]]:
        logger.warning("redis unavailable", error=str(error))
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "redis_unavailable",
            "the leaderboard store is unavailable; retry shortly",
        )

    @app.not_found
    def _no_route(_: Exception) -> Response[dict[str, Any]]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")


def refuse_unacceptable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """An API Gateway proxy response refusing a body over 1 MiB or not a JSON object; None if acceptable.

    Checked before the resolver runs: Powertools validates the request before any middleware,
    and it would take the first element of a JSON array as the object.
    """
    body = event.get("body") or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        return _proxy_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "request body exceeds 1 MiB")
    if not body.lstrip().startswith("{"):
        return _proxy_error(HTTPStatus.BAD_REQUEST, "invalid_request", "request body must be a JSON object", "body")
    return None


def _proxy_error(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"error": error}),
        "isBase64Encoded": False,
    }
