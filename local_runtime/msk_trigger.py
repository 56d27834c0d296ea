"""Lambda's MSK event source mapping, emulated with a kafka-python consumer in a thread.

Batches of up to BatchSize records, gathered for at most the batching window after the first one,
become one `aws:kafka` event. Offsets are committed only after the handler answers:

- success: every partition of the batch is committed to its last offset + 1;
- `batchItemFailures` (when FunctionResponseTypes has ReportBatchItemFailures): each listed
  partition is committed up to its lowest failed offset and read again from there;
- an exception, a malformed response or an invocation past the function's Timeout: nothing is
  committed, every partition is read again.

A position that keeps failing is retried with a doubling pause; after MaximumRetryAttempts retries
(Lambda's meaning: 2 retries = 3 invocations; -1 = forever) an invocation record goes to the
dead-letter queue and the partition moves past the failed records.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import boto3
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from local_runtime.kafka_event import Batch, lambda_kafka_event, on_failure_record, partition_name
from local_runtime.lambda_host import LocalFunction
from local_runtime.template import KafkaTrigger

logger = logging.getLogger(__name__)

LOCAL_CLUSTER_ARN = "arn:aws:kafka:us-east-1:123456789012:cluster/local/00000000-0000-0000-0000-000000000000-1"


def local_cluster_arn(cluster_id: str) -> str:
    """An MSK-style ARN for a local broker: like MSK's, it changes when the cluster is a new one."""
    return LOCAL_CLUSTER_ARN.rsplit("/", 1)[0] + f"/{cluster_id}"


def broker_cluster_id(bootstrap: str) -> str | None:
    """The cluster id the broker reports in its metadata; None if it reports none."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="local-esm-admin")
    try:
        cluster_id = admin.describe_cluster().get("cluster_id")
    finally:
        admin.close()
    return str(cluster_id) if cluster_id else None


_IDLE_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class TriggerCounters:
    batches: int = 0  # invocations
    records: int = 0  # records delivered, redeliveries included
    failures: int = 0  # invocations that raised, answered malformed, or reported item failures
    dead_lettered: int = 0  # records skipped after their retries ran out


@dataclass(frozen=True)
class _Outcome:
    failed_offsets: dict[TopicPartition, int]  # lowest failed offset per partition
    whole_batch: bool
    reason: str


class MskTrigger:
    def __init__(
        self,
        function: LocalFunction,
        trigger: KafkaTrigger,
        *,
        bootstrap: str,
        dead_letter_queue_url: str | None = None,
        aws_endpoint_url: str | None = None,
        region: str = "us-east-1",
        initial_backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 5.0,
        consumer_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.function = function
        self.trigger = trigger
        self.bootstrap = bootstrap
        self.dead_letter_queue_url = dead_letter_queue_url
        self.event_source_arn = trigger.event_source_arn or LOCAL_CLUSTER_ARN
        self._aws_endpoint_url = aws_endpoint_url
        self._region = region
        self._initial_backoff = initial_backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._consumer_settings = {
            "group_id": trigger.consumer_group_id,
            "client_id": f"local-esm-{trigger.function_id}",
            "enable_auto_commit": False,
            # Not "latest": after multi-record batches Tansu answers ListOffsets(LATEST) with the last
            # batch's base offset + 1, so a fresh group would re-read records.
            "auto_offset_reset": "earliest",
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "max_poll_records": trigger.batch_size,
            # Tansu answers a fetch only when its wait expires, not when data arrives: a short wait
            # keeps POST-to-visible near 20 ms instead of the default 500 ms cap (~250 ms median).
            "fetch_max_wait_ms": 25,
            **(consumer_settings or {}),
        }
        self._consumer: KafkaConsumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._assigned = threading.Event()
        self._counters = TriggerCounters()
        self._counters_lock = threading.Lock()
        self._failing_positions: dict[TopicPartition, tuple[int, int]] = {}  # offset, failed attempts
        self._sqs: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> MskTrigger:
        # The broker's own cluster id scopes the boards' watermarks: a restarted in-memory broker
        # (offsets from 0 again) is a new cluster, as a recreated MSK cluster has a new ARN.
        # The ARN is read here, once: a broker restarted under a running trigger is caught by the
        # updater's restart detection instead.
        try:
            cluster_id = broker_cluster_id(self.bootstrap)
        except KafkaError as error:
            logger.warning("the broker did not say its cluster id (%s); keeping %s", error, self.event_source_arn)
            cluster_id = None
        if cluster_id:
            self.event_source_arn = local_cluster_arn(cluster_id)
        self._consumer = KafkaConsumer(self.trigger.topic, bootstrap_servers=self.bootstrap, **self._consumer_settings)
        self._thread = threading.Thread(target=self._run, name=f"msk-trigger-{self.trigger.function_id}", daemon=True)
        self._thread.start()
        return self

    def wait_until_assigned(self, timeout: float = 30.0) -> None:
        """Block until the group gave this consumer its partitions (Tansu: about 3 s)."""
        if not self._assigned.wait(timeout):
            raise TimeoutError(f"no partitions of {self.trigger.topic} assigned after {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the batch in flight, then leave the consumer group."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("MSK trigger still busy after %.0f s; leaving it behind", timeout)
            self._thread = None

    @property
    def counters(self) -> TriggerCounters:
        with self._counters_lock:
            return self._counters

    def _count(self, **increments: int) -> None:
        with self._counters_lock:
            current = asdict(self._counters)
            self._counters = TriggerCounters(**{k: v + increments.get(k, 0) for k, v in current.items()})

    # -- the polling loop --------------------------------------------------------------------

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        try:
            while not self._stopping.is_set():
                batch = self._collect_batch(consumer)
                if batch:
                    self._process_or_rewind(consumer, batch)
        finally:
            consumer.close(autocommit=False)

    def _collect_batch(self, consumer: KafkaConsumer) -> Batch:
        batch: Batch = {}
        count = 0
        window_ends: float | None = None  # the window opens with the first record
        while count < self.trigger.batch_size and not self._stopping.is_set():
            wait = _IDLE_POLL_SECONDS if window_ends is None else window_ends - time.monotonic()
            if wait <= 0:
                break
            try:
                polled = consumer.poll(timeout_ms=max(1, int(wait * 1000)), max_records=self.trigger.batch_size - count)
            except KafkaError as failure:
                logger.warning("polling %s failed: %s", self.trigger.topic, failure)
                self._stopping.wait(1.0)
                continue
            if consumer.assignment():
                self._assigned.set()
            for partition, records in polled.items():
                batch.setdefault(partition, []).extend(records)
                count += len(records)
            if count and window_ends is None:
                if self.trigger.batching_window_seconds <= 0:
                    break
                window_ends = time.monotonic() + self.trigger.batching_window_seconds
        return batch

    def _process_or_rewind(self, consumer: KafkaConsumer, batch: Batch) -> None:
        try:
            self._process(consumer, batch)
        except Exception:
            logger.warning("MSK trigger failed settling a batch; reading it again", exc_info=True)
            for partition, records in batch.items():
                self._seek(consumer, partition, records[0].offset)
            self._stopping.wait(1.0)

    def _process(self, consumer: KafkaConsumer, batch: Batch) -> None:
        record_count = sum(len(records) for records in batch.values())
        started = time.monotonic()
        try:
            response = self.function.invoke(lambda_kafka_event(batch, self.event_source_arn, self.bootstrap))
            outcome = self._reported_failures(response, batch)
        except Exception as failure:
            outcome = _Outcome(
                {partition: records[0].offset for partition, records in batch.items()},
                whole_batch=True,
                reason=f"{type(failure).__name__}: {failure}",
            )
        failed = bool(outcome.failed_offsets)
        self._count(batches=1, records=record_count, failures=int(failed))
        log = logger.warning if failed else logger.debug
        log(
            "batch of %d records from %d partitions in %.0f ms; %s",
            record_count,
            len(batch),
            (time.monotonic() - started) * 1000,
            outcome.reason if failed else "ok",
        )
        self._settle(consumer, batch, outcome)

    # -- the response ---------------------------------------------------------------------

    def _reported_failures(self, response: Any, batch: Batch) -> _Outcome:
        if not self.trigger.reports_batch_item_failures or not isinstance(response, dict):
            return _Outcome({}, whole_batch=False, reason="")
        items = response.get("batchItemFailures")
        if not items:
            return _Outcome({}, whole_batch=False, reason="")
        by_name = {partition_name(partition): partition for partition in batch}
        failed: dict[TopicPartition, int] = {}
        for item in items:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(identifier, dict) or identifier.get("partition") not in by_name:
                raise ValueError(f"malformed batchItemFailures entry {item!r}")
            partition = by_name[identifier["partition"]]
            offset = int(identifier.get("offset", -1))
            if offset not in {record.offset for record in batch[partition]}:
                raise ValueError(f"batchItemFailures names offset {offset}, not in the batch")
            failed[partition] = min(offset, failed.get(partition, offset))
        return _Outcome(failed, whole_batch=False, reason="reported batch item failures")

    def _settle(self, consumer: KafkaConsumer, batch: Batch, outcome: _Outcome) -> None:
        commits: dict[TopicPartition, int] = {}
        longest_streak = 0
        for partition, records in batch.items():
            failed_at = outcome.failed_offsets.get(partition)
            if failed_at is None:
                self._failing_positions.pop(partition, None)
                commits[partition] = records[-1].offset + 1
                continue
            attempts = self._note_failure(partition, failed_at)
            if self._retries_exhausted(attempts):
                skipped = (
                    [r for r in records if r.offset >= failed_at]
                    if outcome.whole_batch
                    else [r for r in records if r.offset == failed_at]
                )
                if self._dead_letter(partition, skipped, attempts, outcome):
                    self._failing_positions.pop(partition, None)
                    commits[partition] = skipped[-1].offset + 1
                    self._seek(consumer, partition, skipped[-1].offset + 1)
                    continue
            if failed_at > records[0].offset:
                commits[partition] = failed_at
            self._seek(consumer, partition, failed_at)
            longest_streak = max(longest_streak, attempts)
        self._commit(consumer, commits)
        if longest_streak:
            self._stopping.wait(min(self._initial_backoff * 2 ** (longest_streak - 1), self._max_backoff))

    def _note_failure(self, partition: TopicPartition, offset: int) -> int:
        previous_offset, previous_attempts = self._failing_positions.get(partition, (-1, 0))
        attempts = previous_attempts + 1 if previous_offset == offset else 1
        self._failing_positions[partition] = (offset, attempts)
        return attempts

    def _retries_exhausted(self, attempts: int) -> bool:
        limit = self.trigger.maximum_retry_attempts
        return limit >= 0 and attempts > limit

    # -- offsets ---------------------------------------------------------------------------

    def _seek(self, consumer: KafkaConsumer, partition: TopicPartition, offset: int) -> None:
        if partition in consumer.assignment():  # lost in a rebalance: the new owner reads from the commit
            consumer.seek(partition, offset)

    def _commit(self, consumer: KafkaConsumer, commits: dict[TopicPartition, int]) -> None:
        owned = {p: OffsetAndMetadata(o, "", -1) for p, o in commits.items() if p in consumer.assignment()}
        if not owned:
            return
        try:
            consumer.commit(offsets=owned)
        except KafkaError as failure:
            logger.warning("commit failed (records will be delivered again): %s", failure)

    # -- dead letters ----------------------------------------------------------------------

    def _dead_letter(
        self, partition: TopicPartition, records: list[ConsumerRecord], attempts: int, outcome: _Outcome
    ) -> bool:
        """Send the on-failure record; False if it could not be sent (then keep retrying)."""
        where = f"{partition_name(partition)} offsets {records[0].offset}..{records[-1].offset}"
        if self.dead_letter_queue_url:
            body = on_failure_record(
                function_arn=f"arn:aws:lambda:{self._region}:123456789012:function:{self.function.function_name}",
                event_source_arn=self.event_source_arn,
                bootstrap=self.bootstrap,
                partition=partition,
                records=records,
                attempts=attempts,
                unhandled_error=outcome.whole_batch,
                reason=outcome.reason,
            )
            try:
                self._sqs_client().send_message(QueueUrl=self.dead_letter_queue_url, MessageBody=json.dumps(body))
            except Exception as failure:
                logger.warning("retries exhausted for %s, but the dead-letter queue failed (%s)", where, failure)
                return False
            logger.warning("retries exhausted for %s; sent to the dead-letter queue", where)
        else:
            logger.warning("retries exhausted for %s; no dead-letter queue, skipping them", where)
        self._count(dead_lettered=len(records))
        return True

    def _sqs_client(self) -> Any:
        if self._sqs is None:
            # A local endpoint (moto, LocalStack) takes any credentials; do not require them in the env.
            dummy = "test" if self._aws_endpoint_url and not os.environ.get("AWS_ACCESS_KEY_ID") else None
            self._sqs = boto3.client(
                "sqs",
                endpoint_url=self._aws_endpoint_url,
                region_name=self._region,
                aws_access_key_id=dummy,
                aws_secret_access_key=dummy,
            )
        return self._sqs
