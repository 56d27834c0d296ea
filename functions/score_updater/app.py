"""MSK trigger: apply batches of score events to every enabled board, reporting partial failures."""

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.change_reports import SqsChangeReporter
from shared.adapters.dead_letters import OnceOnlyDeadLetters, SqsDeadLetterQueue
from shared.adapters.moderation_state import RedisModerationState
from shared.adapters.msk_batch import ScoreBatchProcessor, decode_score_record
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.domain.timestamps import now_ms

# The apply threads wait on Redis with the GIL released; when a reply comes, the thread decoding the
# next records holds the GIL until this interval ends (5 ms by default), and Redis sits idle meanwhile.
UPDATER_SWITCH_INTERVAL_SECONDS = 0.0002
sys.setswitchinterval(UPDATER_SWITCH_INTERVAL_SECONDS)

settings = Settings.from_env()
redis_client = create_redis_client(
    settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
)
store = RedisBoardWriter(
    redis_client,
    wait_replicas=settings.redis_wait_replicas,
    wait_timeout_ms=settings.redis_wait_timeout_ms,
    remember_events_seconds=settings.idempotency_window_seconds,
    shards=settings.board_shards,
)
dead_letters = OnceOnlyDeadLetters(
    SqsDeadLetterQueue(boto3.client("sqs", region_name=settings.aws_region), settings.dead_letter_queue_url),
    redis_client,
    settings.idempotency_window_seconds,
)
processor = ScoreBatchProcessor(
    store, dead_letters, settings.board_schedule(), moderation=RedisModerationState(redis_client)
)
change_reporter = (
    SqsChangeReporter(boto3.client("sqs", region_name=settings.aws_region), settings.changes_queue_url)
    if settings.changes_queue_url
    else None
)

logger = Logger()
tracer = Tracer()
metrics = EphemeralMetrics(
    namespace=settings.metrics_namespace
)  # Metrics' output; no state shared with other functions


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        with garbage_collection_paused():
            return dict(process_partial_response(event, decode_score_record, processor.for_event(event), context))
    finally:
        report(processor)
        report_changes(processor)


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """No cycle collection while a batch is applied. A 10 000-record batch makes tens of thousands of
    short-lived dicts and tuples, which reference counting frees; at the default thresholds the
    collector still ran dozens of times per batch, holding the GIL while Redis waited for the next call
    (a third of the updater's Python time, measured). What a batch leaves is collected after it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def report_changes(batch: ScoreBatchProcessor) -> None:
    """Tell the live notifier which boards changed. The batch's outcome never depends on it: a
    report that fails is logged and counted, and the next change reports the board again."""
    if change_reporter is None or not batch.changes:
        return
    try:
        change_reporter.report(batch.changes, now_ms())
    except Exception as error:
        logger.warning("could not report changed boards to the live notifier", error=str(error))
        metrics.add_metric(name="ChangeReportsFailed", unit=MetricUnit.Count, value=1)


def report(batch: ScoreBatchProcessor) -> None:
    """Record metrics count records, each once whatever the number of boards it counts on (see
    BatchTally); the per-window ones count board updates."""
    tally = batch.tally
    metrics.add_metric(name="RecordsApplied", unit=MetricUnit.Count, value=tally.applied)
    metrics.add_metric(name="RecordsSkippedAsRedelivered", unit=MetricUnit.Count, value=tally.redelivered)
    metrics.add_metric(name="DuplicateEventsSkipped", unit=MetricUnit.Count, value=tally.duplicates)
    metrics.add_metric(name="RecordsSkippedUnverified", unit=MetricUnit.Count, value=tally.unverified)
    metrics.add_metric(name="RecordsOnNoBoard", unit=MetricUnit.Count, value=tally.on_no_board)
    metrics.add_metric(name="RecordsPastRetention", unit=MetricUnit.Count, value=tally.past_retention)
    metrics.add_metric(name="PartitionOffsetResets", unit=MetricUnit.Count, value=len(tally.reset_partitions))
    metrics.add_metric(name="RecordsDeadLettered", unit=MetricUnit.Count, value=tally.dead_lettered)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=tally.failed)
    capped = sum(updates.capped for updates in tally.board_updates.values())
    metrics.add_metric(name="PointsCapped", unit=MetricUnit.Count, value=capped)
    for window, updates in tally.board_updates.items():
        suffix = window.value.capitalize()
        metrics.add_metric(name=f"BoardUpdatesApplied{suffix}", unit=MetricUnit.Count, value=updates.applied)
        metrics.add_metric(name=f"BoardUpdatesSkipped{suffix}", unit=MetricUnit.Count, value=updates.skipped)
    if tally.reset_partitions:
        logger.error(
            "partition offsets restarted below the applied watermark (topic recreated or broker storage lost); "
            "records never applied before were applied and the watermark starts again from them: "
            "see docs/EXACTLY_ONCE.md, 'When a partition's offsets restart'",
            partitions=sorted(tally.reset_partitions),
        )
    if tally.unverified:
        logger.warning(
            "records below the applied watermark were too old to verify and were skipped as redelivered",
            records=tally.unverified,
        )
    if tally.past_retention:
        logger.warning(
            "records reached boards whose retention had ended and were not applied there: a replay older "
            "than BOARD_RETENTION_<WINDOW>_DAYS; see docs/BOARDS.md, 'Retention'",
            records=tally.past_retention,
        )
    if capped:
        logger.info("board updates were held at the board's largest total", updates=capped)
    if tally.failed:
        logger.warning("batch partly failed; Lambda will redeliver", failed=tally.failed)
