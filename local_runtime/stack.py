"""The whole leaderboard in one process: servers, the handlers, API Gateway and the MSK trigger.

    with LocalStack(api_port=0, topic="t-123", consumer_group="g-123").start() as stack:
        requests.post(f"{stack.api_url}/v1/scores", headers={"x-api-key": stack.api_key}, ...)

Handlers read their settings from os.environ when imported, so `start()` sets the environment
(template values + local overrides) for the process and `stop()` puts the old one back. Run one
stack per process at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import boto3

from local_runtime.api_gateway import ApiGateway
from local_runtime.kafka_admin import ensure_topic
from local_runtime.lambda_host import Handler, LocalFunction, environment_overlay, load_handler
from local_runtime.live_gateway import LIVE_PATH, LiveGateway
from local_runtime.msk_trigger import LOCAL_CLUSTER_ARN, MskTrigger, broker_cluster_id, local_cluster_arn
from local_runtime.servers import LocalServers
from local_runtime.sqs_trigger import SqsTrigger
from local_runtime.template import LocalTemplate, load_template
from local_runtime.web_page import WebPage

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_KEY = "local-dev-key"  # INGEST_API_KEY unless the environment sets one
DEFAULT_ADMIN_API_KEY = "local-admin-key"  # ADMIN_API_KEY unless the environment sets one
DEFAULT_AUDIT_TABLE = "leaderboard-moderation-audit"
DEFAULT_API_PORT = 3000
DEFAULT_DLQ_NAME = "leaderboard-dlq"
DEFAULT_ARCHIVE_BUCKET = "leaderboard-archive"
UPDATER_FUNCTION = "ScoreUpdaterFunction"
CLOSER_FUNCTION = "PeriodCloserFunction"
SCHEDULED_CLOSE_EVENT = {"close": "due"}  # the template's schedule Input, as events/scheduled_close.json
LIVE_FUNCTION = "LiveConnectionFunction"  # every route of the WebSocket API
ADMIN_FUNCTION = "ModerationAdminFunction"  # the admin routes, called with ADMIN_API_KEY; ends timed bans
EXPIRE_TIMED_BANS_EVENT = {"expire": "due"}  # the template's schedule Input, as events/expire_timed_bans.json
EXPIRE_TIMED_BANS_EVERY_SECONDS = 5.0  # AWS: every minute; here sooner, so a short demo ban ends on time
NOTIFIER_FUNCTION = "LiveNotifierFunction"  # triggered by the change-report queue
REGION = "us-east-1"
# Containers per function at most: the template's ReservedConcurrentExecutions, capped here (and
# this many when the template reserves none). Enough for cross-container races, few enough for
# two cores.
LOCAL_CONCURRENCY = 4
# Set in the caller's environment, these win over the template's values (e.g. long late-event
# graces to replay scores into past periods, or fewer windows).
CALLER_OVERRIDABLE = (
    "POWERTOOLS_DEV",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_DISABLED",
    "LEADERBOARD_WINDOWS",
    "MAX_POINTS_PER_EVENT",
    "MAX_EVENTS_PER_BATCH",
    "MAX_FUTURE_SKEW_SECONDS",
    "LATE_EVENT_GRACE_SECONDS",
    "LATE_EVENT_GRACE_DAILY_SECONDS",
    "LATE_EVENT_GRACE_WEEKLY_SECONDS",
    "LATE_EVENT_GRACE_MONTHLY_SECONDS",
    "BOARD_RETENTION_DAILY_DAYS",
    "BOARD_RETENTION_WEEKLY_DAYS",
    "BOARD_RETENTION_MONTHLY_DAYS",
    "ARCHIVE_HOT_PERIODS",
    "KAFKA_SEND_TIMEOUT_SECONDS",
    "IDEMPOTENCY_WINDOW_SECONDS",
    "REDIS_SECRET_ARN",
    "REDIS_WAIT_REPLICAS",
    "REDIS_WAIT_TIMEOUT_MS",
    "REDIS_SOCKET_TIMEOUT_SECONDS",
    "REDIS_RETRIES",
    "LIVE_CONNECTIONS_PER_IP",
    "LIVE_CONNECTION_TTL_SECONDS",
    "BOARD_SHARDS",
)


@dataclass
class RunningStack:
    api_url: str
    api_key: str
    admin_api_key: str
    redis_url: str
    kafka_bootstrap: str
    aws_endpoint_url: str
    dlq_url: str
    topic: str
    consumer_group: str
    template: LocalTemplate
    servers: LocalServers
    api: ApiGateway
    trigger: MskTrigger
    functions: dict[str, LocalFunction]
    local_environment: dict[str, str]
    live_url: str  # ws://127.0.0.1:<api port>/v1/live
    changes_queue_url: str
    live: LiveGateway
    notifier_trigger: SqsTrigger
    _cleanup: contextlib.ExitStack = field(repr=False)

    def stop(self) -> None:
        """Stop the API, the trigger and every server this stack started; restore os.environ."""
        self._cleanup.close()

    def new_container(self, logical_id: str) -> LocalFunction:
        """The function loaded once more, as Lambda would in a second container, with this stack's servers."""
        return _load_function(self.template, logical_id, self.local_environment, concurrency=1)

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass
class LocalStack:
    """Options for one local run. `environ` (default: os.environ) may name existing servers through
    REDIS_URL, KAFKA_BOOTSTRAP_SERVERS and AWS_ENDPOINT_URL; the others are started in `workdir`."""

    repo_root: Path = REPO_ROOT
    template_path: Path | None = None  # default: repo_root / "template.yaml"
    workdir: Path | None = None  # default: a fresh temporary directory
    api_port: int = DEFAULT_API_PORT  # 0: any free port
    api_key: str | None = None  # default: INGEST_API_KEY, else DEFAULT_API_KEY
    admin_api_key: str | None = None  # default: ADMIN_API_KEY, else DEFAULT_ADMIN_API_KEY
    expire_timed_bans_every_seconds: float | None = EXPIRE_TIMED_BANS_EVERY_SECONDS  # None: no schedule
    topic: str | None = None  # default: the template's ScoreTopic
    consumer_group: str | None = None  # default: the template's ConsumerGroupId
    dlq_name: str = DEFAULT_DLQ_NAME
    environ: Mapping[str, str] | None = None
    quiet: bool = True  # handler logs at WARNING and no metrics output, unless the environment says otherwise
    invocations_per_function: int | None = (
        None  # default: the template's reserved concurrency, at most LOCAL_CONCURRENCY
    )
    assignment_timeout_seconds: float = 30.0
    trigger_settings: Mapping[str, Any] = field(default_factory=dict)  # e.g. backoff, consumer overrides
    close_periods_every_seconds: float | None = None  # run the period closer's schedule (make run: every minute)

    def start(self) -> RunningStack:
        environ = dict(os.environ if self.environ is None else self.environ)
        api_key = self.api_key or environ.get("INGEST_API_KEY") or DEFAULT_API_KEY
        admin_api_key = self.admin_api_key or environ.get("ADMIN_API_KEY") or DEFAULT_ADMIN_API_KEY
        workdir = self.workdir or Path(tempfile.mkdtemp(prefix="leaderboard-local-"))
        cleanup = contextlib.ExitStack()
        try:
            servers = cleanup.enter_context(LocalServers(workdir, environ))
            overrides = {"ScoreTopic": self.topic} if self.topic else {}
            template = load_template(self.template_path or self.repo_root / "template.yaml", overrides, region=REGION)
            trigger_spec = template.kafka_trigger_for(UPDATER_FUNCTION)
            if self.consumer_group:
                trigger_spec = dataclasses.replace(trigger_spec, consumer_group_id=self.consumer_group)
            partitions = template.score_topic_partitions
            if servers.kafka is not None:
                servers.kafka.create_topic(trigger_spec.topic, partitions)
            else:
                ensure_topic(servers.kafka_bootstrap, trigger_spec.topic, partitions)
            dlq_url = _create_queue(servers.aws_endpoint_url, self.dlq_name, environ)
            changes_queue_url = _create_queue(
                servers.aws_endpoint_url, f"leaderboard-live-changes-{uuid.uuid4().hex[:10]}", environ
            )
            # The functions are told the management API's URL when they load: the port is chosen first.
            api_port = self.api_port or _free_port()

            _create_bucket(servers.aws_endpoint_url, DEFAULT_ARCHIVE_BUCKET, environ)
            create_audit_table(servers.aws_endpoint_url, DEFAULT_AUDIT_TABLE, environ)

            local_env = local_environment(
                environ,
                servers,
                dlq_url,
                api_key,
                topic=self.topic,
                quiet=self.quiet,
                consumer_group=trigger_spec.consumer_group_id,
            )
            local_env["CHANGES_QUEUE_URL"] = changes_queue_url
            local_env["LIVE_ENDPOINT_URL"] = f"http://127.0.0.1:{api_port}"
            process_env = {**_union_of_function_environments(template), **local_env}
            cleanup.enter_context(environment_overlay(process_env))
            functions = {
                logical_id: _load_function(
                    template, logical_id, local_env, self.repo_root, self.invocations_per_function
                )
                for logical_id in template.functions
            }

            trigger = MskTrigger(
                functions[UPDATER_FUNCTION],
                trigger_spec,
                bootstrap=servers.kafka_bootstrap,
                dead_letter_queue_url=dlq_url,
                aws_endpoint_url=servers.aws_endpoint_url,
                region=REGION,
                **dict(self.trigger_settings),
            ).start()
            cleanup.callback(trigger.stop)
            trigger.wait_until_assigned(self.assignment_timeout_seconds)

            notifier_trigger = SqsTrigger(
                functions[NOTIFIER_FUNCTION],
                changes_queue_url,
                aws_endpoint_url=servers.aws_endpoint_url,
                region=REGION,
            ).start()
            cleanup.callback(notifier_trigger.stop)

            live = LiveGateway(functions[LIVE_FUNCTION])
            page = WebPage(self.repo_root / "web")
            api = ApiGateway(
                template.routes,
                functions,
                api_key=api_key,
                port=api_port,
                live=live,
                page=page,
                route_keys={ADMIN_FUNCTION: admin_api_key} if ADMIN_FUNCTION in functions else None,
            ).start()
            cleanup.callback(api.stop)
            if self.close_periods_every_seconds is not None and CLOSER_FUNCTION in functions:
                schedule = LocalSchedule(functions[CLOSER_FUNCTION], self.close_periods_every_seconds).start()
                cleanup.callback(schedule.stop)
            if self.expire_timed_bans_every_seconds is not None and ADMIN_FUNCTION in functions:
                expiries = LocalSchedule(
                    functions[ADMIN_FUNCTION],
                    self.expire_timed_bans_every_seconds,
                    event=EXPIRE_TIMED_BANS_EVENT,
                    name="timed-ban-schedule",
                ).start()
                cleanup.callback(expiries.stop)
        except BaseException:
            cleanup.close()
            raise
        return RunningStack(
            api_url=api.url,
            api_key=api_key,
            admin_api_key=admin_api_key,
            redis_url=servers.redis_url,
            kafka_bootstrap=servers.kafka_bootstrap,
            aws_endpoint_url=servers.aws_endpoint_url,
            dlq_url=dlq_url,
            topic=trigger_spec.topic,
            consumer_group=trigger_spec.consumer_group_id,
            template=template,
            servers=servers,
            api=api,
            trigger=trigger,
            functions=functions,
            local_environment=local_env,
            live_url=f"ws://127.0.0.1:{api.port}{LIVE_PATH}",
            changes_queue_url=changes_queue_url,
            live=live,
            notifier_trigger=notifier_trigger,
            _cleanup=cleanup,
        )


def _local_cluster_arn(bootstrap: str) -> str:
    """The ARN the local MSK trigger gives the updater's batches (MskTrigger.start), so a board rebuild
    names partitions in watermarks as the updater does."""
    try:
        cluster_id = broker_cluster_id(bootstrap)
    except Exception as error:
        logger.warning("the broker did not say its cluster id (%s); using %s", error, LOCAL_CLUSTER_ARN)
        return LOCAL_CLUSTER_ARN
    return local_cluster_arn(cluster_id) if cluster_id else LOCAL_CLUSTER_ARN


def local_environment(
    environ: Mapping[str, str],
    servers: LocalServers,
    dlq_url: str,
    api_key: str,
    *,
    topic: str | None = None,
    quiet: bool = True,
    consumer_group: str | None = None,
) -> dict[str, str]:
    """What differs from AWS: where the servers are, dummy credentials, no X-Ray."""
    local = {
        "REDIS_URL": servers.redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
        "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "AWS_ENDPOINT_URL": servers.aws_endpoint_url,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "DEAD_LETTER_QUEUE_URL": dlq_url,
        "INGEST_API_KEY": api_key,
        "ARCHIVE_BUCKET": DEFAULT_ARCHIVE_BUCKET,
        "MODERATION_AUDIT_TABLE": DEFAULT_AUDIT_TABLE,
    }
    if consumer_group:
        local["UPDATER_CONSUMER_GROUP"] = consumer_group
    local["KAFKA_CLUSTER_ARN"] = _local_cluster_arn(servers.kafka_bootstrap)
    if topic:
        local["KAFKA_TOPIC"] = topic
    # The caller's environment wins over the template for these; quiet mode only sets defaults.
    quiet_defaults = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"} if quiet else {}
    for name in CALLER_OVERRIDABLE:
        value = environ.get(name, quiet_defaults.get(name))
        if value is not None:
            local[name] = value
    return local


def _load_function(
    template: LocalTemplate,
    logical_id: str,
    local_env: Mapping[str, str],
    repo_root: Path = REPO_ROOT,
    concurrency: int | None = None,
) -> LocalFunction:
    spec = template.function(logical_id)
    environment = {**spec.environment, **local_env}

    def new_container() -> Handler:
        return load_handler(spec.handler_file, spec.handler_function, repo_root=repo_root, environment=environment)

    if concurrency is None:
        concurrency = min(spec.reserved_concurrency or LOCAL_CONCURRENCY, LOCAL_CONCURRENCY)
    return LocalFunction(
        spec.function_name,
        new_container(),
        memory_mb=spec.memory_mb,
        timeout_seconds=spec.timeout_seconds,
        region=REGION,
        concurrency=concurrency,
        new_container=new_container,
    )


def _union_of_function_environments(template: LocalTemplate) -> dict[str, str]:
    merged: dict[str, str] = {}
    for spec in template.functions.values():
        merged.update(spec.environment)
    return merged


class LocalSchedule:
    """EventBridge Scheduler for a function (the period closer by default): its scheduled event every
    `interval` seconds, on a thread. A failed run is logged and the next tick tries again (the
    scheduler's retries, in short)."""

    def __init__(
        self,
        closer: LocalFunction,
        interval_seconds: float,
        *,
        event: Mapping[str, Any] = SCHEDULED_CLOSE_EVENT,
        name: str = "period-closer-schedule",
    ) -> None:
        self._closer = closer
        self._interval = interval_seconds
        self._event = dict(event)
        self._name = name
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> LocalSchedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                answer = self._closer.invoke(dict(self._event))
            except Exception:  # reported; the next tick runs anyway
                logger.exception("%s: the scheduled run failed; the next tick retries", self._name)
                continue
            for board in (answer or {}).get("boards", []):
                logger.info("period closer: %s", board)
            for expired in (answer or {}).get("expired", []):
                logger.info("timed ban ended: %s", expired)


def moto_client(
    service: Literal["s3", "dynamodb", "sqs"], endpoint_url: str, environ: Mapping[str, str] | None = None
) -> Any:
    """A boto3 client of the local AWS (moto) at `endpoint_url`; its keys from `environ`, else moto's "test"."""
    keys = environ or {}
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY", "test"),
    )


def _create_bucket(endpoint_url: str, name: str, environ: Mapping[str, str]) -> None:
    s3 = moto_client("s3", endpoint_url, environ)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)


def create_audit_table(endpoint_url: str, name: str, environ: Mapping[str, str]) -> None:
    """The template's ModerationAuditTable (pk, sk: strings). Kept if there: an audit trail outlives a run."""
    dynamodb = moto_client("dynamodb", endpoint_url, environ)
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _create_queue(endpoint_url: str, name: str, environ: Mapping[str, str]) -> str:
    sqs = moto_client("sqs", endpoint_url, environ)
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url
