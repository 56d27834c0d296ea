"""EventBridge Scheduler -> archive the closed boards that are due, or one named board.

A tick (`{"close": "due"}`, events/scheduled_close.json) closes every enabled window's periods whose
grace has passed and that are not archived yet, a few per run; `{"window": "daily", "period":
"2026-12-01"}` (events/close_period.json) closes that one. A board whose updater is behind is
reported and left for the next run. A failure (Redis, S3, Kafka) fails the invocation, so the
scheduler retries it and, after its retries, sends the event to the closer's DLQ. A tick also
re-exports the archives of closed boards after a ban or unban, as new revisions (docs/MODERATION.md)."""

import uuid
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.kafka_security import kafka_security_options
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.adapters.updater_progress import KafkaUpdaterProgress
from shared.application.archive import CloseOutcome, CloseStatus, PeriodCloser
from shared.application.archive_revisions import ArchiveReviser
from shared.domain.boards import enabled_window
from shared.domain.timestamps import now_ms

settings = Settings.from_env()
MISSING = [
    name
    for name, value in [
        ("ARCHIVE_BUCKET", settings.archive_bucket),
        ("UPDATER_CONSUMER_GROUP", settings.updater_consumer_group),
    ]
    if not value
]
closer = PeriodCloser(
    export=RedisBoardExport(
        create_redis_client(
            settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
        ),
        shards=settings.board_shards,
    ),
    store=S3ArchiveStore(boto3.client("s3", region_name=settings.aws_region), settings.archive_bucket),
    progress=KafkaUpdaterProgress(
        settings.kafka_bootstrap_servers,
        settings.kafka_topic,
        settings.updater_consumer_group,
        security=kafka_security_options(settings),
    ),
    schedule=settings.board_schedule(),
    clock=now_ms,
    new_run_id=lambda: uuid.uuid4().hex,
    hot_periods=settings.archive_hot_periods,
    put_threads=16,
)
# Bans and unbans the admin function asked the archives to follow (docs/MODERATION.md).
reviser = ArchiveReviser(closer.store, settings.windows, clock=now_ms, new_run_id=lambda: uuid.uuid4().hex)

logger = Logger()
tracer = Tracer()
metrics = EphemeralMetrics(namespace=settings.metrics_namespace)


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if MISSING:
        raise ValueError(f"the period closer needs {' and '.join(MISSING)} (template.yaml sets them)")
    if isinstance(event, dict) and "window" in event:
        board = enabled_window(str(event["window"]), settings.windows).parse_period(str(event.get("period", "")))
        outcomes = [closer.close(board)]
    else:
        outcomes = closer.close_due()
    report(outcomes)
    answer: dict[str, Any] = {"boards": [outcome.as_dict() for outcome in outcomes]}
    if "window" not in event:
        revisions = reviser.apply_pending()
        for revision in revisions:
            logger.info("archive revised", extra={"revision": revision.as_dict()})
        answer["revisions"] = [revision.as_dict() for revision in revisions]
    return answer


def report(outcomes: list[CloseOutcome]) -> None:
    for outcome in outcomes:
        if outcome.status is CloseStatus.UPDATER_BEHIND:
            logger.warning("updater behind; board left for the next run", extra={"board": outcome.as_dict()})
        elif outcome.status is CloseStatus.ARCHIVED:
            logger.info("board archived", extra={"board": outcome.as_dict()})
    count = sum(outcome.status is CloseStatus.ARCHIVED for outcome in outcomes)
    metrics.add_metric(name="BoardsArchived", unit=MetricUnit.Count, value=count)
    waiting = sum(outcome.status is CloseStatus.UPDATER_BEHIND for outcome in outcomes)
    metrics.add_metric(name="BoardsWaitingForUpdater", unit=MetricUnit.Count, value=waiting)
