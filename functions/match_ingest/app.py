"""POST /v1/scores and /v1/scores/batch: validate match results and publish them to Kafka."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.http_api import error_response, install_error_handlers, refuse_unacceptable_body
from shared.ingest import IngestService, SubmissionInProgress
from shared.kafka_producer import BrokerUnavailable, ScoreEventPublisher
from shared.model import ScoreBatch, ScoreLimits, ScoreSubmission, to_score_event
from shared.periods import now_ms
from shared.redis_client import create_redis_client
from shared.settings import Settings
from shared.submission_ledger import SubmissionLedger

settings = Settings.from_env()
limits = ScoreLimits(
    max_points_per_event=settings.max_points_per_event,
    max_future_skew_ms=settings.max_future_skew_seconds * 1000,
)
publisher = ScoreEventPublisher(settings)
ingest = IngestService(
    publisher, SubmissionLedger(create_redis_client(settings.redis_url), settings.idempotency_window_seconds)
)

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
install_error_handlers(app)


@app.exception_handler(BrokerUnavailable)
def _broker_unavailable(error: BrokerUnavailable) -> Response[dict[str, Any]]:
    logger.warning("kafka unavailable", error=str(error))
    return error_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        "kafka_unavailable",
        "scores cannot be accepted right now; retry shortly",
    )


@app.exception_handler(SubmissionInProgress)
def _in_progress(error: SubmissionInProgress) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.CONFLICT, "submission_in_progress", str(error))


@app.post("/v1/scores")
@tracer.capture_method
def post_score(submission: Annotated[ScoreSubmission, Body()]) -> Response[dict[str, Any]]:
    event = to_score_event(submission, limits)
    outcome = ingest.submit([event])
    metrics.add_metric(name="ScoresAccepted", unit=MetricUnit.Count, value=1 - outcome.duplicates)
    metrics.add_metric(name="DuplicateScores", unit=MetricUnit.Count, value=outcome.duplicates)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body={"event_id": event.event_id, "period": event.period},
    )


@app.post("/v1/scores/batch")
@tracer.capture_method
def post_batch(batch: Annotated[ScoreBatch, Body()]) -> Response[dict[str, Any]]:
    received_at_ms = now_ms()
    events = [
        to_score_event(submission, limits, field_prefix=f"scores.{index}.", received_at_ms=received_at_ms)
        for index, submission in enumerate(batch.scores)
    ]
    outcome = ingest.submit(events)
    metrics.add_metric(name="ScoresAccepted", unit=MetricUnit.Count, value=outcome.accepted - outcome.duplicates)
    metrics.add_metric(name="DuplicateScores", unit=MetricUnit.Count, value=outcome.duplicates)
    return Response(
        status_code=HTTPStatus.ACCEPTED,
        content_type="application/json",
        body={"accepted": outcome.accepted, "duplicates": outcome.duplicates},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return refuse_unacceptable_body(event) or app.resolve(event, context)
