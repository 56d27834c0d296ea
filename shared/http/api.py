"""What both HTTP functions share: the resolver, the error shape and the mapping from failures to status codes.

Every error is {"error": {"code": str, "message": str, "field"?: str}}.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import orjson
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field

from shared.application.queries import PeriodNotFound
from shared.domain.archive import ArchiveDamaged
from shared.domain.boards import InvalidPeriod, UnknownWindow
from shared.domain.errors import ArchiveUnavailable, BrokerUnavailable, StoreUnavailable
from shared.domain.events import InvalidInput
from shared.domain.sharding import PageTooDeep

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
    HTTPStatus.BAD_REQUEST: "Invalid input: malformed JSON, a body that is not UTF-8 or not an object, a key given "
    "twice, or a field out of bounds",
    HTTPStatus.UNAUTHORIZED: "No credentials (write routes)",
    HTTPStatus.FORBIDDEN: "Wrong credentials, or not allowed to call this route",
    HTTPStatus.NOT_FOUND: "Nothing there",
    HTTPStatus.CONFLICT: "The same (match_id, user_id) was submitted before with other points (conflicting_duplicate)",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "Request body over 1 MiB",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "A body that is not application/json (any case; charset, if given, utf-8)",
    HTTPStatus.SERVICE_UNAVAILABLE: "A dependency (Kafka for writes, Redis for reads) is unavailable; retry shortly",
    HTTPStatus.BAD_GATEWAY: "A closed period's archive cannot be read (archive_damaged): retrying will not help until "
    "an operator restores it",
}


# Powertools' own HTTP errors (event_handler.exceptions), by status.
_SERVICE_ERROR_CODES: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.UNAUTHORIZED: "unauthorized",
    HTTPStatus.FORBIDDEN: "forbidden",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.REQUEST_TIMEOUT: "request_timeout",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.INTERNAL_SERVER_ERROR: "internal_error",
    HTTPStatus.SERVICE_UNAVAILABLE: "service_unavailable",
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

    Bodies are parsed by `parse_json_body`. Debug output is off whatever the environment says: it
    prints whole events, headers included.
    """
    app = APIGatewayRestResolver(enable_validation=True, debug=False, json_body_deserializer=parse_json_body)
    install_error_handlers(app)
    return app


class RequestRefused(Exception):
    """A request answered with a 4xx before any route logic: the body's framing, encoding or JSON."""

    def __init__(self, status: HTTPStatus, code: str, message: str, field: str | None = "body") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"field": self.field} if self.field else {}

    def proxy_response(self) -> dict[str, Any]:
        return {
            "statusCode": int(self.status),
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps({"error": {"code": self.code, "message": self.message, **self.details()}}),
            "isBase64Encoded": False,
        }


class _RepeatedKey:
    """Stands, in the parsed document, for an object in which `key` appears more than once."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


def parse_json_body(text: str) -> Any:
    """The JSON document in `text`; RequestRefused naming the key when an object repeats one.

    orjson parses: it refuses nesting deeper than 1024 and integers beyond 64 bits as malformed
    JSON, where the standard parser would raise RecursionError or ValueError (a 500). It keeps the
    last of repeated keys, so the standard parser then reads the text again only to find those:
    the one hook it offers that sees every key of an object. That adds about 0.6 ms to a
    500-event batch (docs/SECURITY.md).
    """
    document = orjson.loads(text)
    repeated: list[_RepeatedKey] = []

    def without_repeats(pairs: list[tuple[str, Any]]) -> Any:
        unique = dict(pairs)
        if len(unique) == len(pairs):
            return unique
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                repeated.append(_RepeatedKey(key))
                return repeated[-1]
            seen.add(key)
        return unique  # not reached: fewer unique keys than pairs means one was seen twice

    try:
        checked = json.loads(text, object_pairs_hook=without_repeats)
    except RecursionError:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "malformed_json", "request body is nested too deeply") from None
    if repeated:
        key = repeated[0].key
        field = ".".join([*_path_to(checked, repeated[0]), key])
        raise RequestRefused(
            HTTPStatus.BAD_REQUEST, "duplicate_key", f"{field}: key {key!r} appears more than once in its object", field
        )
    return document


def _path_to(document: Any, target: object) -> list[str]:
    """The keys and indexes leading from `document` to `target`, found by identity."""
    pending: list[tuple[Any, list[str]]] = [(document, [])]
    while pending:
        node, path = pending.pop()
        if node is target:
            return path
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        pending.extend((child, [*path, str(name)]) for name, child in children)
    return []


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

    @app.exception_handler(RequestRefused)
    def _request_refused(error: RequestRefused) -> Response[dict[str, Any]]:
        return error_response(error.status, error.code, error.message, **error.details())

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported_content_type(_: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
        return _unsupported_media_type_response()

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response[dict[str, Any]]:
        return error_response(error.status_code, _SERVICE_ERROR_CODES.get(error.status_code, "error"), str(error.msg))

    @app.exception_handler(InvalidInput)
    def _input_invalid(error: InvalidInput) -> Response[dict[str, Any]]:
        return error_response(
            HTTPStatus.BAD_REQUEST, "invalid_request", f"{error.field}: {error.message}", field=error.field
        )

    @app.exception_handler(InvalidPeriod)
    def _period_invalid(error: InvalidPeriod) -> Response[dict[str, Any]]:
        return error_response(HTTPStatus.BAD_REQUEST, "invalid_request", f"period: {error}", field="period")

    @app.exception_handler(PageTooDeep)
    def _page_too_deep(error: PageTooDeep) -> Response[dict[str, Any]]:
        return error_response(HTTPStatus.BAD_REQUEST, "invalid_request", f"offset: {error}", field="offset")

    @app.exception_handler(UnknownWindow)
    def _window_unknown(error: UnknownWindow) -> Response[dict[str, Any]]:
        return error_response(HTTPStatus.NOT_FOUND, "unknown_window", str(error), field="window")

    @app.exception_handler(StoreUnavailable)
    def _redis_unavailable(error: StoreUnavailable) -> Response[dict[str, Any]]:
        logger.warning("redis unavailable", error=str(error))
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "redis_unavailable",
            "the leaderboard store is unavailable; retry shortly",
        )

    @app.exception_handler(ArchiveUnavailable)
    def _archive_unavailable(error: ArchiveUnavailable) -> Response[dict[str, Any]]:
        logger.warning("archive unavailable", error=str(error))
        return error_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "archive_unavailable",
            "the archive of closed periods is unavailable; retry shortly",
        )

    @app.exception_handler(ArchiveDamaged)
    def _archive_damaged(error: ArchiveDamaged) -> Response[dict[str, Any]]:
        # Retrying will not help: an operator restores the archive (docs/ARCHIVE.md). The object's key
        # goes to the log only.
        logger.error("archive damaged", error=str(error))
        board = error.board
        return error_response(
            HTTPStatus.BAD_GATEWAY,
            "archive_damaged",
            f"the archive of {board.window} {board.period} cannot be read",
            period=board.period,
        )

    @app.exception_handler(PeriodNotFound)
    def _period_not_found(error: PeriodNotFound) -> Response[dict[str, Any]]:
        return error_response(
            HTTPStatus.NOT_FOUND, "period_not_found", str(error), field="period", period=error.board.period
        )

    @app.not_found
    def _no_route(_: Exception) -> Response[dict[str, Any]]:
        return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[dict[str, Any]]:
        # Otherwise the invocation fails and API Gateway answers 502 in its own shape.
        logger.exception("unexpected failure", error_type=type(error).__name__)
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


def install_broker_unavailable_handler(app: APIGatewayRestResolver, message: str) -> None:
    """Answer 503 kafka_unavailable when Kafka does not take a write; `message` tells the caller what to do."""

    @app.exception_handler(BrokerUnavailable)
    def _broker_unavailable(error: BrokerUnavailable) -> Response[dict[str, Any]]:
        logger.warning("kafka unavailable", error=str(error))
        return error_response(HTTPStatus.SERVICE_UNAVAILABLE, "kafka_unavailable", message)


def _unsupported_media_type_response() -> Response[dict[str, Any]]:
    return error_response(
        HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", _MEDIA_TYPE_MESSAGE, field="content-type"
    )


_MEDIA_TYPE_MESSAGE = "send the body as application/json (charset, if given, utf-8)"
_CONTENT_TYPE = "content-type"


def _declared_content_type(event: dict[str, Any]) -> str | None:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == _CONTENT_TYPE:
            return str(value).strip() or None
    return None


def _is_json_media_type(declared: str) -> bool:
    """application/json in any case, with parameters; a charset, if given, must be UTF-8 (RFC 8259)."""
    media_type, *parameters = declared.split(";")
    if media_type.strip().lower() != content_types.APPLICATION_JSON:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            return False
    return True


def _invalid_encoding(message: str) -> RequestRefused:
    return RequestRefused(HTTPStatus.BAD_REQUEST, "invalid_encoding", message)


def _body_bytes(event: dict[str, Any]) -> bytes:
    """The body as sent: base64 bodies (API Gateway's binary media types) decoded, text bodies encoded."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            raise _invalid_encoding("request body is not valid base64") from None
    try:
        return body.encode()
    except UnicodeEncodeError:  # a lone surrogate
        raise _invalid_encoding("request body is not valid UTF-8") from None


def _utf8_text(raw: bytes) -> str:
    """`raw` as strict UTF-8 text without U+FFFD.

    U+FFFD is refused too: without a binary media type, API Gateway hands bytes that are not
    UTF-8 over as text with U+FFFD in their place, and two ids that differed only there would
    become one.
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        raise _invalid_encoding(f"request body is not valid UTF-8 (byte {error.start})") from None
    if "\ufffd" in text:
        raise _invalid_encoding(
            "request body is not valid UTF-8 (it holds U+FFFD, left where bytes could not be decoded)"
        )
    return text


def json_request(event: dict[str, Any]) -> dict[str, Any]:
    """The API Gateway proxy event of a write, ready for the resolver; RequestRefused when it must not get there.

    Refused: a body over 1 MiB, not JSON, not UTF-8, or not a JSON object. Checked before the
    resolver runs: Powertools validates the request before any middleware, it would take the
    first element of a JSON array as the object, and it would parse form and multipart bodies,
    which this API does not take. The event handed on has its body as text and its content type
    as exactly `application/json`, the only spelling Powertools reads as JSON.
    """
    raw = _body_bytes(event)
    if len(raw) > MAX_BODY_BYTES:
        raise RequestRefused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", "request body exceeds 1 MiB", field=None
        )
    declared = _declared_content_type(event)
    if declared is not None and not _is_json_media_type(declared):
        raise RequestRefused(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", _MEDIA_TYPE_MESSAGE, _CONTENT_TYPE
        )
    text = _utf8_text(raw)
    if not text.lstrip().startswith("{"):
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "invalid_request", "request body must be a JSON object")
    request = {**event, "body": text, "isBase64Encoded": False}
    if declared is not None:
        for headers in ("headers", "multiValueHeaders"):
            kept = {name: value for name, value in (event.get(headers) or {}).items() if name.lower() != _CONTENT_TYPE}
            json_type = content_types.APPLICATION_JSON
            request[headers] = {**kept, "Content-Type": json_type if headers == "headers" else [json_type]}
    return request
