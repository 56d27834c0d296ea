"""MSK trigger: apply batches of score events to the monthly boards, reporting partial failures."""

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.dead_letters import SqsDeadLetterQueue
from shared.redis_client import create_redis_client
from shared.redis_store import LeaderboardStore
from shared.score_applier import ScoreBatchProcessor, decode_score_record
from shared.settings import Settings

settings = Settings.from_env()
store = LeaderboardStore(
    create_redis_client(settings.redis_url, secret_reference=settings.redis_secret_arn),
    wait_replicas=settings.redis_wait_replicas,
    wait_timeout_ms=settings.redis_wait_timeout_ms,
)
dead_letters = SqsDeadLetterQueue(boto3.client("sqs", region_name=settings.aws_region), settings.dead_letter_queue_url)
processor = ScoreBatchProcessor(store, dead_letters)

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=settings.metrics_namespace)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return dict(process_partial_response(event, decode_score_record, processor, context))
    finally:
        tally = processor.tally
        metrics.add_metric(name="RecordsApplied", unit=MetricUnit.Count, value=tally.applied)
        metrics.add_metric(name="RecordsSkippedAsRedelivered", unit=MetricUnit.Count, value=tally.skipped)
        metrics.add_metric(name="RecordsDeadLettered", unit=MetricUnit.Count, value=tally.dead_lettered)
        metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=tally.failed)
        if tally.failed:
            logger.warning("batch partly failed; Lambda will redeliver", failed=tally.failed)
