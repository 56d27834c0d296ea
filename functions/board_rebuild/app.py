"""Operator -> rebuild one board without downtime, from its archive or by replaying Kafka.

`{"window": "daily", "period": "2026-12-01"}` (events/rebuild_board.json) rebuilds from the archive
when the board has one, else by replay; `"source": "archive"` or `"replay"` chooses, and
`"restart": true` drops a previous run's shadow instead of resuming it. The answer's `status` is
`swapped`, `incomplete` (the run's time ran out: invoke again, it resumes) or `already_running`.
A damaged archive, a topic that no longer holds the period, or Redis, S3 or Kafka unavailable fail
the invocation with a message naming what is wrong; the live board is never touched then.
docs/ARCHIVE.md tells how it works and what size fits one run.

It also changes a sharded window's shard count (docs/BOARDS.md#resharding-changing-s-on-a-live-board):
`{"reshard": {"window": "alltime", "period": "all", "from_shards": 16, "to_shards": 32}}`
(events/reshard_board.json) copies the board into the new layout and verifies it, with the updater
paused; `from_shards` must be the layout BOARD_SHARDS configures. Its `status` is `copied`,
`incomplete` (invoke again, it resumes) or `already_running`. Once BOARD_SHARDS names the new layout,
`{"reshard_cleanup": {"window": "alltime", "period": "all", "old_shards": 16}}` deletes the old one."""

import uuid
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.board_layouts import RedisBoardLayouts
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
from shared.application.reshard import BoardResharder
from shared.domain.boards import Board, enabled_window
from shared.domain.sharding import check_reshard
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

resharder = BoardResharder(RedisBoardLayouts(client), new_token=lambda: uuid.uuid4().hex)

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "reshard" in event:
        return reshard(event["reshard"], context)
    if isinstance(event, dict) and "reshard_cleanup" in event:
        return reshard_cleanup(event["reshard_cleanup"])
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
    outcome = rebuilder.rebuild(board, RebuildSource(source) if source else None, run_seconds(context), restart=restart)
    logger.info("board rebuild", extra={"rebuild": outcome.as_dict()})
    return outcome.as_dict()


def run_seconds(context: LambdaContext) -> float:
    seconds = min(context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS, LONGEST_RUN_SECONDS)
    if seconds <= 0:
        raise ValueError(f"the function's timeout leaves no time for a rebuild (it needs over {MARGIN_SECONDS:.0f} s)")
    return seconds


def _sharded_board(request: Any, *counts: str) -> tuple[Board, list[int]]:
    example = '{"window": "alltime", "period": "all", ' + ", ".join(f'"{name}": 16' for name in counts) + "}"
    if not isinstance(request, dict) or "window" not in request or "period" not in request:
        raise ValueError(f"the request must name the board and shard counts: {example}")
    board = enabled_window(str(request["window"]), settings.windows).parse_period(str(request["period"]))
    shards = []
    for name in counts:
        value = request.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be a whole number of shards: {example}")
        shards.append(value)
    return board, shards


def reshard(request: Any, context: LambdaContext) -> dict[str, Any]:
    board, (from_shards, to_shards) = _sharded_board(request, "from_shards", "to_shards")
    check_reshard(from_shards, to_shards)
    live = settings.board_shards.get(board.window, 1)
    if from_shards != live:
        raise ValueError(
            f"from_shards is {from_shards}, but BOARD_SHARDS gives the {board.window} window {live}: "
            "a reshard copies from the layout in use (switch BoardShards only after it)"
        )
    outcome = resharder.reshard(board, from_shards, to_shards, run_seconds(context))
    logger.info("board reshard", extra={"reshard": outcome.as_dict()})
    return outcome.as_dict()


def reshard_cleanup(request: Any) -> dict[str, Any]:
    board, (old_shards,) = _sharded_board(request, "old_shards")
    live = settings.board_shards.get(board.window, 1)
    if old_shards == live:
        raise ValueError(
            f"old_shards is {old_shards}, the layout BOARD_SHARDS gives the {board.window} window: "
            "the layout in use is never deleted"
        )
    check_reshard(old_shards, live)
    outcome = resharder.clean_up(board, old_shards, live)
    logger.info("board reshard cleanup", extra={"reshard": outcome.as_dict()})
    return outcome.as_dict()
