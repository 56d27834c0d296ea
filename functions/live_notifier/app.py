"""SQS trigger: the updater's change reports -> pushes to the WebSocket clients watching those boards."""

import time
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.live_wiring import live_ports
from shared.adapters.settings import Settings
from shared.application.live import LiveNotifier
from shared.domain.board_changes import BoardChange, InvalidChangeReport, decode_changes, merge_changes
from shared.domain.timestamps import now_ms

settings = Settings.from_env()
ports = live_ports(settings)
notifier = LiveNotifier(ports.registry, ports.transport, ports.memory, ports.queries, sleep=time.sleep)

logger = Logger()
tracer = Tracer()
metrics = EphemeralMetrics(namespace=settings.metrics_namespace)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SQSEvent)
def lambda_handler(event: SQSEvent, context: LambdaContext) -> dict[str, Any]:
    changes: list[BoardChange] = []
    oldest_applied_at: int | None = None
    for record in event.records:
        try:
            reported, applied_at = decode_changes(record.body)
        except InvalidChangeReport as problem:
            logger.warning("dropped a message that is not a change report", reason=str(problem))
            metrics.add_metric(name="ChangeReportsInvalid", unit=MetricUnit.Count, value=1)
            continue
        changes.extend(reported)
        oldest_applied_at = applied_at if oldest_applied_at is None else min(oldest_applied_at, applied_at)
    tally = notifier.notify(merge_changes(changes))
    metrics.add_metric(name="LiveTopPushes", unit=MetricUnit.Count, value=tally.top_pushes)
    metrics.add_metric(name="LiveStandingPushes", unit=MetricUnit.Count, value=tally.standing_pushes)
    metrics.add_metric(name="LiveGoneConnections", unit=MetricUnit.Count, value=tally.gone)
    metrics.add_metric(name="LivePushFailures", unit=MetricUnit.Count, value=tally.failed_sends)
    metrics.add_metric(name="LiveChangesThrottled", unit=MetricUnit.Count, value=tally.throttled)
    if oldest_applied_at is not None and tally.boards_pushed:
        metrics.add_metric(
            name="LivePushDelay", unit=MetricUnit.Milliseconds, value=max(0, now_ms() - oldest_applied_at)
        )
    if tally.failed_sends:
        logger.warning("some pushes failed", failed=tally.failed_sends)
    return {"boards_pushed": tally.boards_pushed, "top_pushes": tally.top_pushes, "gone": tally.gone}
