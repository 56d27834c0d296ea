"""What both HTTP functions share: the error shape and the mapping from failures to status codes.

Every error is {"error": {"code": str, "message": str, "field"?: str}}.
"""

from __future__ import annotations

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
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type", "missing"}


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
    if first["field"] == "body" and error.errors()[0].get("type") in _NOT_AN_OBJECT:
        return error_response(
            HTTPStatus.BAD_REQUEST, "invalid_request", "request body must be a JSON object", field="body"
        )
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


def reject_oversized_body(app: APIGatewayRestResolver, next_middleware: Any) -> Response[Any]:
    body = app.current_event.body or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "request body exceeds 1 MiB")
    result: Response[Any] = next_middleware(app)
    return result
