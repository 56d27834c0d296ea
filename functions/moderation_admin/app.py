"""/v1/admin/players/{user_id}...: ban, unban and reset a player, and read their status and audit history.

Every write is recorded in the audit trail (DynamoDB) first, then produced to Kafka, and answered
202 with the action's id. The same function ends timed bans: EventBridge Scheduler invokes it with
`{"expire": "due"}` (events/expire_timed_bans.json) every minute. docs/MODERATION.md tells why.
"""

import uuid
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.hidden_scores import RedisHiddenScores
from shared.adapters.kafka_producer import KafkaModerationPublisher
from shared.adapters.moderation_audit import DynamoAuditTrail, admin_client_config
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.application.archive_revisions import ArchiveReviser
from shared.application.moderation_admin import Accepted, ConflictingRetry, ModerationAdmin
from shared.domain.boards import enabled_window
from shared.domain.errors import AuditUnavailable
from shared.domain.events import InvalidId, InvalidInput, canonical_id, timestamp_shape
from shared.domain.moderation import MAX_ACTOR_LENGTH, ModerationAction, ModerationKind, action_id_for, checked_reason
from shared.domain.moderation_requests import parse_until
from shared.domain.timestamps import epoch_ms_to_rfc3339, now_ms
from shared.http.api import (
    RequestRefused,
    api_resolver,
    documented_responses,
    error_response,
    install_broker_unavailable_handler,
    json_request,
)

settings = Settings.from_env()
settings.check_request_budget(writes=True)
schedule = settings.board_schedule()


class Invocation:
    """The running invocation's context: scheduled runs have it too, not only the routes inside app.resolve."""

    context: LambdaContext | None = None

    @classmethod
    def seconds_left(cls) -> float | None:
        return None if cls.context is None else cls.context.get_remaining_time_in_millis() / 1000


admin = ModerationAdmin(
    audit=DynamoAuditTrail(
        boto3.client("dynamodb", region_name=settings.aws_region, config=admin_client_config()),
        settings.moderation_audit_table,
    ),
    publisher=KafkaModerationPublisher(settings, seconds_left=Invocation.seconds_left),
    hidden=RedisHiddenScores(
        create_redis_client(
            settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
        ),
        shards=settings.board_shards,
    ),
    schedule=schedule,
    clock=now_ms,
    # Bans and unbans also ask for the closed boards' archives to be re-exported (by the period closer).
    archive=ArchiveReviser(
        S3ArchiveStore(
            boto3.client("s3", region_name=settings.aws_region, config=admin_client_config()), settings.archive_bucket
        ),
        settings.windows,
        clock=now_ms,
        new_run_id=lambda: uuid.uuid4().hex,
    )
    if settings.archive_bucket
    else None,
)

logger = Logger()
tracer = Tracer()
app = api_resolver()

IDEMPOTENCY_HEADER = "idempotency-key"
MAX_IDEMPOTENCY_KEY_LENGTH = 128
EXPIRE_DUE_EVENT = {"expire": "due"}
WRITE_ERRORS = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.CONFLICT,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    HTTPStatus.SERVICE_UNAVAILABLE,
)
WRITE_DESCRIPTIONS = {
    "CONFLICT": "The Idempotency-Key was used before for another request (idempotency_key_reused)",
    "NOT_FOUND": "A reset's window is not enabled (unknown_window)",
    "SERVICE_UNAVAILABLE": "The audit trail (audit_unavailable) or Kafka (kafka_unavailable) is unavailable; "
    "retry with the same Idempotency-Key",
}

UserId = Annotated[
    str,
    Path(
        min_length=1,
        description="The player's id, percent-encoded; the id rule (1..128 characters) applies once decoded",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description=f"1..{MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters. A retry with the same key is the "
        "same action (same action_id, applied once); without one, every request is a new action",
    ),
]
Reason = Annotated[str, Field(description="Why, in 1..500 printable characters; kept in the audit trail")]


class BanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Reason
    until: Annotated[int | str | None, BeforeValidator(timestamp_shape)] = Field(
        default=None,
        description="When the ban lifts itself: epoch milliseconds or an RFC 3339 timestamp with an offset, in the "
        "future; absent or null: until an unban",
    )


class UnbanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Reason


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    window: str = Field(description="daily, weekly, monthly or alltime; an enabled window")
    period: str = Field(description="The board's period in the window's format (alltime: `all`)")
    reason: Reason


class ActionAccepted(BaseModel):
    action_id: str = Field(description="The action's id; the same Idempotency-Key always gives the same id")
    action: str = Field(description="ban, unban or reset")
    user_id: str
    received_at: str = Field(description="When the action was first accepted (RFC 3339, UTC)")
    retried: bool = Field(description="True when an earlier request with this Idempotency-Key had recorded it")


ACTION_RESPONSES = documented_responses(
    HTTPStatus.ACCEPTED, "Accepted", ActionAccepted, *WRITE_ERRORS, **WRITE_DESCRIPTIONS
)


class HistoryEntry(BaseModel):
    action_id: str
    action: str
    actor: str = Field(description="Who acted: the caller's IAM identity, or system:timed-ban")
    reason: str
    at: str = Field(description="When it was accepted (RFC 3339, UTC)")
    until: str | None = Field(default=None, description="A timed ban's end")
    window: str | None = None
    period: str | None = None


class HiddenPoints(BaseModel):
    window: str
    period: str
    points: int


class PlayerModeration(BaseModel):
    user_id: str
    banned: bool
    banned_until: str | None = Field(description="A timed ban's end; null when not banned or banned until an unban")
    ban_action_id: str | None
    hidden: list[HiddenPoints] = Field(description="Points held in a board's hidden set, per board in Redis")
    history: list[HistoryEntry] = Field(description="Every action on the player, oldest first")


def _rfc3339(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else epoch_ms_to_rfc3339(epoch_ms)


def _user_id(raw: str) -> str:
    # API Gateway hands REST path parameters over still percent-encoded.
    try:
        return canonical_id(unquote(raw, errors="strict"))
    except UnicodeDecodeError:
        raise InvalidInput("user_id", "is not UTF-8 once percent-decoded") from None
    except InvalidId as problem:
        raise InvalidInput("user_id", str(problem)) from None


def _request_id(idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"request:{app.current_event.request_context.request_id}"
    if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH or not all(
        "!" <= character <= "~" for character in idempotency_key
    ):
        raise InvalidInput(
            "Idempotency-Key", f"must be 1..{MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (no spaces)"
        )
    return f"key:{idempotency_key}"


def _actor() -> str:
    identity = app.current_event.request_context.identity
    who = identity.user_arn or identity.caller or identity.user or "unknown"
    return who[:MAX_ACTOR_LENGTH]


def _act(
    user_id: str, kind: ModerationKind, reason: object, idempotency_key: str | None, **rest: Any
) -> Response[dict[str, Any]]:
    player = _user_id(user_id)
    action = ModerationAction(
        action_id=action_id_for(_request_id(idempotency_key), player),
        user_id=player,
        kind=kind,
        reason=checked_reason(reason),
        actor=_actor(),
        received_at_ms=rest.pop("received_at_ms"),
        **rest,
    )
    accepted: Accepted = admin.act(action)
    logger.info(
        "moderation action accepted",
        action_id=accepted.action.action_id,
        action=kind.value,
        user_id=player,
        retried=accepted.retried,
    )
    recorded = accepted.action
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body={
            "action_id": recorded.action_id,
            "action": recorded.kind.value,
            "user_id": recorded.user_id,
            "received_at": epoch_ms_to_rfc3339(recorded.received_at_ms),
            "retried": accepted.retried,
        },
    )


install_broker_unavailable_handler(
    app, "the action is recorded but not yet applied; retry with the same Idempotency-Key"
)


@app.exception_handler(AuditUnavailable)
def _audit_unavailable(error: AuditUnavailable) -> Response[dict[str, Any]]:
    logger.warning("audit trail unavailable", error=str(error))
    return error_response(
        HTTPStatus.SERVICE_UNAVAILABLE, "audit_unavailable", "the audit trail is unavailable; retry shortly"
    )


@app.exception_handler(ConflictingRetry)
def _conflicting_retry(error: ConflictingRetry) -> Response[dict[str, Any]]:
    return error_response(
        HTTPStatus.CONFLICT,
        "idempotency_key_reused",
        str(error),
        field="Idempotency-Key",
        action_id=error.earlier.action_id,
    )


@app.put(
    "/v1/admin/players/<user_id>/ban",
    summary="Ban a player from every board",
    description="Hides the player on every board in Redis (all windows, live and retained periods); scores "
    "posted while banned still count, hidden. With `until` the ban lifts itself then. Admin only (IAM).",
    responses=ACTION_RESPONSES,
)
@tracer.capture_method
def put_ban(
    user_id: UserId, request: Annotated[BanRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[dict[str, Any]]:
    received_at = now_ms()
    until_ms = parse_until(request.until, received_at_ms=received_at)
    return _act(
        user_id, ModerationKind.BAN, request.reason, idempotency_key, received_at_ms=received_at, until_ms=until_ms
    )


@app.delete(
    "/v1/admin/players/<user_id>/ban",
    summary="Lift a player's ban",
    description="Puts the player back on every board with every point they would have had. Admin only (IAM).",
    responses=ACTION_RESPONSES,
)
@tracer.capture_method
def delete_ban(
    user_id: UserId, request: Annotated[UnbanRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[dict[str, Any]]:
    return _act(user_id, ModerationKind.UNBAN, request.reason, idempotency_key, received_at_ms=now_ms())


@app.post(
    "/v1/admin/players/<user_id>/reset",
    summary="Wipe a player's score on one board",
    description="Removes the player's entry, visible or hidden, from one board; later scores count from zero. "
    "Admin only (IAM).",
    responses=ACTION_RESPONSES,
)
@tracer.capture_method
def post_reset(
    user_id: UserId, request: Annotated[ResetRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[dict[str, Any]]:
    board = enabled_window(request.window, settings.windows).parse_period(request.period)
    return _act(
        user_id,
        ModerationKind.RESET,
        request.reason,
        idempotency_key,
        received_at_ms=now_ms(),
        window=board.window.value,
        period=board.period,
    )


@app.get(
    "/v1/admin/players/<user_id>",
    summary="A player's moderation status, hidden points and audit history",
    responses=documented_responses(
        HTTPStatus.OK,
        "The player's moderation",
        PlayerModeration,
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.UNAUTHORIZED,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ),
)
@tracer.capture_method
def get_player(user_id: UserId) -> Response[dict[str, Any]]:
    report = admin.report(_user_id(user_id))
    ban = report.status.ban
    body = {
        "user_id": report.user_id,
        "banned": report.status.banned,
        "banned_until": _rfc3339(report.status.until_ms),
        "ban_action_id": None if ban is None else ban.action_id,
        "hidden": [
            {"window": board.window.value, "period": board.period, "points": points}
            for board, points in report.hidden_points.items()
        ],
        "history": [
            {
                "action_id": action.action_id,
                "action": action.kind.value,
                "actor": action.actor,
                "reason": action.reason,
                "at": epoch_ms_to_rfc3339(action.received_at_ms),
                "until": _rfc3339(action.until_ms),
                "window": action.window,
                "period": action.period,
            }
            for action in report.history
        ],
    }
    return Response(
        status_code=HTTPStatus.OK, content_type="application/json", body=body, headers={"Cache-Control": "no-store"}
    )


def expire_due() -> dict[str, Any]:
    outcomes = admin.expire_due()
    for outcome in outcomes:
        logger.info(
            "timed ban ended",
            ban_action_id=outcome.ban.action_id,
            user_id=outcome.ban.user_id,
            unban_action_id=None if outcome.unban is None else outcome.unban.action_id,
        )
    return {
        "expired": [
            {
                "ban_action_id": outcome.ban.action_id,
                "user_id": outcome.ban.user_id,
                "unban_action_id": None if outcome.unban is None else outcome.unban.action_id,
            }
            for outcome in outcomes
        ]
    }


# log_event=False: events carry credentials in their headers.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not settings.moderation_audit_table:
        raise ValueError("the moderation admin needs MODERATION_AUDIT_TABLE (template.yaml sets it)")
    Invocation.context = context
    if event == EXPIRE_DUE_EVENT:
        return expire_due()
    if event.get("httpMethod") in ("PUT", "POST", "DELETE"):
        try:
            event = json_request(event)
        except RequestRefused as refused:
            return refused.proxy_response()
    return app.resolve(event, context)
