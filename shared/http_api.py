"""What both HTTP functions share: the resolver, the error shape and the mapping from failures to status codes.

Every error is {"error": {"code": str, "message": str, "field"?: str}}.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError

from shared.model import InvalidInput

logger = Logger(child=True)

MAX_BODY_BYTES = 1024 * 1024
_LOCATIONS = {"body", "query", "path", "header"}


class Problem(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Stable, machine-readable reason, e.g. invalid_request")
    message: str = Field(description="What went wrong, naming the field when there is one")
    field: str | None = Field(default=None, description="Dotted path of the offending field, e.g. scores.3.points")
    problems: list[Problem] | None = Field(default=None, description="Every field problem found, up to 20")


class ErrorBody(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


_ERROR_DESCRIPTIONS = {
    HTTPStatus.BAD_REQUEST: "Invalid input: malformed JSON, a body that is not an object, or a field out of bounds",
    HTTPStatus.UNAUTHORIZED: "No credentials (write routes)",
    HTTPStatus.FORBIDDEN: "Wrong credentials, or not allowed to call this route",
    HTTPStatus.NOT_FOUND: "Nothing there",
    HTTPStatus.CONFLICT: "The same (match_id, user_id) was submitted before with other points (conflicting_duplicate)",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "Request body over 1 MiB",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "A body that is not application/json",
    HTTPStatus.SERVICE_UNAVAILABLE: "A dependency (Kafka for writes, Redis for reads) is unavailable; retry shortly",
}


def documented_responses(
    success: int, success_description: str, success_model: type[BaseModel], *errors: HTTPStatus, **descriptions: str
) -> dict[int, OpenAPIResponse]:
    """The OpenAPI responses of a route: its success answer and the errors it can give, all with their schema.

    `descriptions` overrides an error's description by status name, e.g. NOT_FOUND="no score that month".
    """
    responses: dict[int, OpenAPIResponse] = {
        success: {"description": success_description, "content": {"application/json": {"model": success_model}}}
    }
    for status in errors:
        description = descriptions.get(status.name, _ERROR_DESCRIPTIONS[status])
        responses[int(status)] = {"description": description, "content": {"application/json": {"model": ErrorBody}}}
    return responses


def api_resolver() -> APIGatewayRestResolver:
    """The REST resolver both HTTP functions use, with the contract's error answers installed.

    orjson parses bodies: it refuses nesting deeper than 1024 and integers beyond 64 bits as
    malformed JSON, where the standard parser would raise RecursionError or ValueError (a 500).
    Debug output is off whatever the environment says: it prints whole events, headers included.
    """
    app = APIGatewayRestResolver(enable_validation=True, debug=False, json_body_deserializer=orjson.loads)
    install_error_handlers(app)
    return app


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
        reason = str((error.errors()[0].get("ctx") or {}).get("error", "")).strip()
        message = f"request body is not valid JSON: {reason}" if reason else "request body is not valid JSON"
        return error_response(HTTPStatus.BAD_REQUEST, "malformed_json", message, field="body")
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


def _content_type(event: dict[str, Any]) -> str:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type":
            return str(value).split(";", 1)[0].strip().lower()
    return ""


def refuse_unacceptable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """An API Gateway proxy response refusing a body over 1 MiB, not JSON, or not a JSON object; None if acceptable.

    Checked before the resolver runs: Powertools validates the request before any middleware,
    it would take the first element of a JSON array as the object, and it would parse form and
    multipart bodies, which this API does not take.
    """
    body = event.get("body") or ""
    if len(body.encode()) > MAX_BODY_BYTES:
        return _proxy_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "request body exceeds 1 MiB")
    if _content_type(event) not in ("", "application/json"):
        return _proxy_error(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
            "content-type",
        )
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
