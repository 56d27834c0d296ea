"""Operator -> rebuild one board without downtime, from its archive or by replaying Kafka.

`{"window": "daily", "period": "2026-12-01"}` (events/rebuild_board.json) rebuilds from the archive
when the board has one, else by replay; `"source": "archive"` or `"replay"` chooses, and
`"restart": true` drops a previous run's shadow instead of resuming it. The answer's `status` is
`swapped`, `incomplete` (the run's time ran out: invoke again, it resumes) or `already_running`.
A damaged archive, a topic that no longer holds the period, or Redis, S3 or Kafka unavailable fail
the invocation with a message naming what is wrong; the live board is never touched then.
docs/ARCHIVE.md tells how it works and what size fits one run."""

import uuid
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.kafka_replay import KafkaReplaySource
from shared.adapters.kafka_security import kafka_security_options
from shared.adapters.moderation_state import RedisModerationState
from shared.adapters.msk_batch import kafka_cluster_of
from shared.adapters.redis_client import create_redis_client
from shared.adapters.settings import Settings
from shared.adapters.shadow_board import RedisShadowBoard
from shared.adapters.updater_progress import KafkaUpdaterProgress
from shared.application.archive import PeriodCloser
from shared.application.rebuild import BoardRebuilder, RebuildSource
from shared.domain.boards import enabled_window
from shared.domain.timestamps import now_ms

# Left to the run after its deadline: the last read and apply, the swap, and the answer.
MARGIN_SECONDS = 30.0
LONGEST_RUN_SECONDS = 840.0

settings = Settings.from_env()
client = create_redis_client(
    settings.redis_url, secret_reference=settings.redis_secret_arn, timeouts=settings.redis_timeouts()
)
archive = S3ArchiveStore(boto3.client("s3", region_name=settings.aws_region), settings.archive_bucket)
schedule = settings.board_schedule()
security = kafka_security_options(settings)
rebuilder = BoardRebuilder(
    shadow=RedisShadowBoard(client),
    writer=RedisBoardWriter(client, remember_events_seconds=settings.idempotency_window_seconds),
    archive=archive,
    replay=KafkaReplaySource(
        settings.kafka_bootstrap_servers,
        settings.kafka_topic,
        kafka_cluster_of({"eventSourceArn": settings.kafka_cluster_arn}),
        security=security,
    ),
    schedule=schedule,
    closer=PeriodCloser(
        export=RedisBoardExport(client),
        store=archive,
        progress=KafkaUpdaterProgress(
            settings.kafka_bootstrap_servers, settings.kafka_topic, settings.updater_consumer_group, security=security
        ),
        schedule=schedule,
        clock=now_ms,
        new_run_id=lambda: uuid.uuid4().hex,
        hot_periods=settings.archive_hot_periods,
    ),
    clock=now_ms,
    new_token=lambda: uuid.uuid4().hex,
    bans=RedisModerationState(client),
)

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if not settings.archive_bucket:
        raise ValueError("the board rebuild needs ARCHIVE_BUCKET (template.yaml sets it)")
    if not isinstance(event, dict) or "window" not in event or "period" not in event:
        raise ValueError('the event must name the board: {"window": "daily", "period": "2026-12-01"}')
    board = enabled_window(str(event["window"]), settings.windows).parse_period(str(event["period"]))
    if settings.board_shards.get(board.window, 1) > 1:
        raise ValueError(
            f"the {board.window} window is sharded (BOARD_SHARDS): its boards are rebuilt by the resharding "
            "procedure of docs/BOARDS.md, not by this function"
        )
    source = event.get("source")
    if source is not None and source not in {member.value for member in RebuildSource}:
        raise ValueError(f"source must be 'archive' or 'replay', got {str(source)[:40]!r}")
    restart = event.get("restart", False)
    if not isinstance(restart, bool):
        raise ValueError("restart must be true or false")
    seconds = min(context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS, LONGEST_RUN_SECONDS)
    if seconds <= 0:
        raise ValueError(f"the function's timeout leaves no time for a rebuild (it needs over {MARGIN_SECONDS:.0f} s)")
    outcome = rebuilder.rebuild(board, RebuildSource(source) if source else None, seconds, restart=restart)
    logger.info("board rebuild", extra={"rebuild": outcome.as_dict()})
    return outcome.as_dict()
