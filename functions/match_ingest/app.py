"""POST /v1/scores and /v1/scores/batch: validate match results and publish them to Kafka."""

from collections.abc import Sequence
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from shared.adapters.kafka_producer import ScoreEventPublisher
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.adapters.submission_ledger import SubmissionLedger
from shared.application.ingest import ConflictingDuplicate, CountsOnNoBoard, IngestOutcome, IngestService
from shared.domain.events import (
    InvalidInput,
    ScoreBatch,
    ScoreEvent,
    ScoreSubmission,
    batch_field_prefix,
    count_by_window,
    to_score_event,
    to_score_events,
)
from shared.domain.timestamps import now_ms
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
limits = settings.score_limits()
schedule = limits.board_schedule


def invocation_seconds_left() -> float:
    """What is left of the current invocation: the routes run inside app.resolve, which holds the context."""
    return app.lambda_context.get_remaining_time_in_millis() / 1000


publisher = ScoreEventPublisher(settings, seconds_left=invocation_seconds_left)
ingest = IngestService(
    publisher,
    SubmissionLedger(
        create_redis_client(
            settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
        ),
        settings.idempotency_window_seconds,
    ),
    schedule,
)

logger = Logger()
tracer = Tracer()
metrics = EphemeralMetrics(
    namespace=settings.metrics_namespace
)  # Metrics' output; no state shared with other functions
app = api_resolver()

WRITE_ERRORS = (
    HTTPStatus.BAD_REQUEST,
    HTTPStatus.UNAUTHORIZED,
    HTTPStatus.FORBIDDEN,
    HTTPStatus.CONFLICT,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    HTTPStatus.SERVICE_UNAVAILABLE,
)


class ScoreAccepted(BaseModel):
    event_id: str = Field(description="Identifies (match_id, user_id); the same pair always gets the same id")
    period: str = Field(
        description="The month (YYYY-MM, UTC) of occurred_at, whether or not the monthly board is enabled; for a "
        "resubmission, the month of the first one"
    )
    periods: dict[str, str] = Field(
        description="Window -> period id of each enabled board the score counts on (daily YYYY-MM-DD, weekly "
        "YYYY-Www, monthly YYYY-MM, alltime all). A board that had closed to late events when the score was "
        "received is left out; for a resubmission, the first one's boards"
    )


class BatchAccepted(BaseModel):
    accepted: int = Field(description="Events in the batch")
    duplicates: int = Field(
        description="Events that had been accepted before (or repeated in the batch); each counts once"
    )
    per_window: dict[str, int] = Field(
        description="Enabled window -> how many of the batch's distinct events count on one of its boards; fewer "
        "than the events when some were received after that window's board closed to late events"
    )


def submit(events: list[ScoreEvent], field_prefixes: Sequence[str]) -> IngestOutcome:
    """Hand the events to ingest; `field_prefixes[i]` names event i's fields in a refusal."""
    try:
        outcome = ingest.submit(events)
    except CountsOnNoBoard as late:
        index = next(index for index, event in enumerate(events) if event.event_id in late.reasons)
        raise InvalidInput(f"{field_prefixes[index]}occurred_at", late.reasons[events[index].event_id]) from None
    metrics.add_metric(name="ScoresAccepted", unit=MetricUnit.Count, value=outcome.accepted - outcome.duplicates)
    metrics.add_metric(name="DuplicateScores", unit=MetricUnit.Count, value=outcome.duplicates)
    if not outcome.deduplicated:
        metrics.add_metric(name="ScoresPublishedUnchecked", unit=MetricUnit.Count, value=len(events))
    return outcome


install_broker_unavailable_handler(app, "scores cannot be accepted right now; retry shortly")


@app.exception_handler(ConflictingDuplicate)
def _conflicting_duplicate(error: ConflictingDuplicate) -> Response[dict[str, Any]]:
    return error_response(
        HTTPStatus.CONFLICT,
        "conflicting_duplicate",
        str(error),
        event_ids=sorted({conflict.event.event_id for conflict in error.conflicts}),
    )


@app.post(
    "/v1/scores",
    summary="Report one match result",
    description="202 only once Kafka acknowledged the event (acks=all). The same (match_id, user_id) counts once; "
    "sent again with other points it is refused (409 conflicting_duplicate).",
    responses=documented_responses(HTTPStatus.ACCEPTED, "Accepted", ScoreAccepted, *WRITE_ERRORS),
)
@tracer.capture_method
def post_score(submission: Annotated[ScoreSubmission, Body()]) -> Response[dict[str, Any]]:
    event = to_score_event(submission, limits, received_at_ms=now_ms())
    counted = submit([event], [""]).counted[event.event_id]
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body={"event_id": event.event_id, "period": counted.period, "periods": counted.periods(schedule)},
    )


@app.post(
    "/v1/scores/batch",
    summary="Report several match results, all or none",
    description="One invalid event refuses the whole batch (400 naming scores.N.field) and nothing is produced.",
    responses=documented_responses(HTTPStatus.ACCEPTED, "Accepted", BatchAccepted, *WRITE_ERRORS),
)
@tracer.capture_method
def post_batch(batch: Annotated[ScoreBatch, Body()]) -> Response[dict[str, Any]]:
    events = to_score_events(batch, limits, received_at_ms=now_ms())
    outcome = submit(events, [batch_field_prefix(index) for index in range(len(events))])
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body={
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "per_window": count_by_window(outcome.counted.values(), schedule),
        },
    )


# log_event=False whatever POWERTOOLS_LOGGER_LOG_EVENT says: events carry credentials in their headers.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = json_request(event)
    except RequestRefused as refused:
        return refused.proxy_response()
    return app.resolve(request, context)
