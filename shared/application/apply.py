"""Applying a Kafka batch to the boards: exactly-once effect over at-least-once delivery.

Powertools' Kafka BatchProcessor supplies the record handling and the partial-batch response;
this subclass replaces its one-record-at-a-time loop with atomic Lua calls per slice of a
(board, partition), each of which also advances that board's watermark for the partition and
remembers the event ids it applied. A record whose offset is at or below the watermark was
applied before and is skipped; so is an event the board remembers (a retried POST that reached
Kafka twice). Watermarks are kept per Kafka cluster, and a partition whose offsets restarted
within one cluster (a recreated topic) is detected by the apply script and reported.

Within a partition, everything from the first record that could not be applied (or
dead-lettered) onwards is reported in batchItemFailures, so Lambda redelivers from there.
"""

from __future__ import annotations

import binascii
import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from types import TracebackType
from typing import Any, NamedTuple, Protocol

import orjson
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

from shared.domain.events import ScoreEvent
from shared.domain.periods import seconds_into_period
from shared.domain.record_codec import PoisonRecord, decode_record

ExceptionInfo = tuple[type[BaseException], BaseException, TracebackType | None]
RawRecord = dict[str, Any]

# Records per Lua call: enough to amortise the round trip, few enough that decoding the next
# slice overlaps with Redis running this one.
APPLY_SLICE = 2000


# Event ids are 32 hex digits on the wire and 16 bytes in Redis.
_EVENT_ID_BYTES = 16


class PendingScore(NamedTuple):
    """One score event on its way into a board, in the order the apply script reads its fields."""

    offset: int
    event_id: bytes  # 16 bytes: the binary form of the 32-hex-digit event id
    user_id: str
    points: int
    reached_second: int
    produced_at_ms: int  # the Kafka record's timestamp; -1 when the record has none


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply call did with its records (see shared/adapters/lua/apply_scores.lua)."""

    applied: int
    redelivered: int = 0  # the same record again: at or below the watermark, event remembered
    duplicates: int = 0  # the same event in another record, e.g. a retried POST
    resets: int = 0  # records showing the partition's offsets restarted; applied
    unverified: int = 0  # below the watermark, too old to verify: skipped as redelivered

    @property
    def skipped(self) -> int:
        return self.redelivered + self.duplicates + self.unverified


MAX_INLINE_VALUE_CHARS = 200_000  # keeps a letter under SQS's 256 KiB message limit


@dataclass(frozen=True, slots=True)
class DeadLetter:
    cluster: str  # the Kafka cluster (see score_applier.kafka_cluster_of); "" when unknown
    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: str | None  # base64, exactly as delivered
    value: str | None  # base64, exactly as delivered
    reason: str

    def body(self) -> str:
        document: dict[str, Any] = {
            "reason": self.reason,
            "cluster": self.cluster,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "key": self.key,
            "value": self.value,
        }
        if self.value is not None and len(self.value) > MAX_INLINE_VALUE_CHARS:
            document["value"] = self.value[:MAX_INLINE_VALUE_CHARS]
            document["value_truncated"] = True
        return orjson.dumps(document).decode()

    def fingerprint(self) -> str:
        """Names this record of this partition incarnation: the same offset after a topic was recreated
        holds another value."""
        digest = hashlib.blake2b(digest_size=16)
        for part in (self.cluster, self.topic, str(self.partition), str(self.offset), self.value or ""):
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.hexdigest()


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Send letters; return the ones that could not be sent."""


class BoardWriter(Protocol):
    def apply(
        self, period: str, partition: str, scores: list[PendingScore], *, unscoped_partition: str = ""
    ) -> ApplyResult: ...


class DeadLetterUnavailable(RuntimeError):
    """A poison record could not be dead-lettered; it is retried instead of being dropped."""


def decode_score_record(record: Mapping[str, Any]) -> ScoreEvent:
    """The record handler: a raw `aws:kafka` record (as Lambda sends it) to a score event, or PoisonRecord."""
    value = record.get("value")
    if value is None:
        raise PoisonRecord("record has no value")
    try:
        decoded = binascii.a2b_base64(value)
    except (binascii.Error, ValueError, TypeError) as error:
        raise PoisonRecord(f"value is not base64: {error}") from None
    return decode_record(decoded)


def partition_name(record: Mapping[str, Any]) -> str:
    return f"{record['topic']}-{record['partition']}"


def kafka_cluster_of(event: Mapping[str, Any]) -> str:
    """The Kafka cluster a batch came from: the resource part of an MSK event's source ARN
    (`<cluster name>/<cluster uuid>`), which changes when the cluster is recreated; "" when the
    event does not say (self-managed Kafka)."""
    arn = event.get("eventSourceArn")
    if not isinstance(arn, str) or ":cluster/" not in arn:
        return ""
    return arn.split(":cluster/", 1)[1]


def binary_event_id(event: ScoreEvent) -> bytes:
    try:
        event_id = bytes.fromhex(event.event_id)
    except ValueError:
        raise PoisonRecord("field 'event_id' must be hexadecimal") from None
    if len(event_id) != _EVENT_ID_BYTES:
        raise PoisonRecord(f"field 'event_id' must be {2 * _EVENT_ID_BYTES} hex characters")
    return event_id


def _info(error: BaseException) -> ExceptionInfo:
    return type(error), error, error.__traceback__


@dataclass(slots=True)
class BatchTally:
    applied: int = 0
    redelivered: int = 0
    duplicates: int = 0
    unverified: int = 0
    dead_lettered: int = 0
    failed: int = 0
    reset_partitions: set[str] = field(default_factory=set)

    def add(self, outcome: BoardSliceOutcome, partition: str) -> None:
        self.applied += outcome.applied
        self.redelivered += outcome.redelivered
        self.duplicates += outcome.duplicates
        self.unverified += outcome.unverified
        if outcome.resets:
            self.reset_partitions.add(partition)


@dataclass(slots=True)
class BoardSliceOutcome:
    """What happened to one partition's records for one board."""

    applied: int = 0
    redelivered: int = 0
    duplicates: int = 0
    resets: int = 0
    unverified: int = 0
    failed_from: int | None = None
    error: BaseException | None = None

    def add(self, result: ApplyResult) -> None:
        self.applied += result.applied
        self.redelivered += result.redelivered
        self.duplicates += result.duplicates
        self.resets += result.resets
        self.unverified += result.unverified


class ApplyQueue:
    """Sends the apply calls from one background thread, so Python decodes the next slice while
    Redis runs the script on this one.

    Calls for the same (partition, board) run in the order submitted. Once one fails, the later
    ones for that pair are not sent: their offsets lie above the failure, and applying them would
    move the watermark past records that still need applying.
    """

    def __init__(self, store: BoardWriter, worker: ThreadPoolExecutor) -> None:
        self._store = store
        self._worker = worker
        self._pending: list[Future[None]] = []
        self._outcomes: dict[str, dict[str, BoardSliceOutcome]] = defaultdict(lambda: defaultdict(BoardSliceOutcome))

    def submit(self, partition: str, watermark: str, period: str, scores: list[PendingScore]) -> None:
        """Queue one apply call; `watermark` names the partition within its Kafka cluster."""
        self._pending.append(self._worker.submit(self._apply, partition, watermark, period, scores))

    def _apply(self, partition: str, watermark: str, period: str, scores: list[PendingScore]) -> None:
        outcome = self._outcomes[partition][period]
        if outcome.error is not None:
            return
        try:
            result = self._store.apply(period, watermark, scores, unscoped_partition=partition)
        # Any failure (Redis, a cluster slot left uncovered, a lagging replica, or a bug) stops this
        # (board, partition): no later slice may move the watermark past it. The batch is retried from there.
        except Exception as error:
            outcome.failed_from, outcome.error = scores[0].offset, error
            return
        outcome.add(result)

    def finish(self) -> dict[str, dict[str, BoardSliceOutcome]]:
        for call in self._pending:
            call.result()
        return self._outcomes


class ScoreBatchProcessor(BatchProcessor):
    def __init__(self, store: BoardWriter, dead_letters: DeadLetterSink) -> None:
        super().__init__(event_type=EventType.Kafka)
        self._store = store
        self._dead_letters = dead_letters
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="board-apply")
        self._cluster = ""
        self.tally = BatchTally()

    def for_event(self, event: Mapping[str, Any]) -> ScoreBatchProcessor:
        """This processor, set up for the Kafka cluster `event` came from (its watermarks are that cluster's)."""
        self._cluster = kafka_cluster_of(event)
        return self

    def _watermark_name(self, partition: str) -> str:
        return f"{self._cluster}/{partition}" if self._cluster else partition

    def process(self) -> list[tuple[object, ...]]:
        # Records stay the raw dicts Lambda sent: wrapping 10 000 of them in Powertools' data class
        # cost more than the Redis work. Only a failed record is wrapped, for the failure report.
        self.tally = BatchTally()
        by_partition: dict[str, list[RawRecord]] = defaultdict(list)
        for record in self.records:
            by_partition[partition_name(record)].append(record)

        queue = ApplyQueue(self._store, self._worker)
        poison: dict[str, list[tuple[RawRecord, PoisonRecord]]] = {}
        for partition, records in by_partition.items():
            records.sort(key=itemgetter("offset"))
            poison[partition] = self._decode_and_submit(partition, records, queue)
        boards = queue.finish()

        outcomes: list[tuple[object, ...]] = []
        for partition, records in by_partition.items():
            outcomes += self._settle(partition, records, poison[partition], boards[partition])
        return outcomes

    def _decode_and_submit(
        self, partition: str, records: list[RawRecord], queue: ApplyQueue
    ) -> list[tuple[RawRecord, PoisonRecord]]:
        poison: list[tuple[RawRecord, PoisonRecord]] = []
        by_period: dict[str, list[PendingScore]] = {}
        watermark = self._watermark_name(partition)
        for record in records:
            try:
                event = self.handler(record)
                event_id = binary_event_id(event)
            except PoisonRecord as error:
                poison.append((record, error))
                continue
            period = event.period
            scores = by_period.setdefault(period, [])
            produced_at = record.get("timestamp")
            scores.append(
                PendingScore(
                    record["offset"],
                    event_id,
                    event.user_id,
                    event.points,
                    seconds_into_period(event.occurred_at_ms, period),
                    produced_at if type(produced_at) is int and produced_at >= 0 else -1,
                )
            )
            if len(scores) == APPLY_SLICE:
                queue.submit(partition, watermark, period, scores)
                by_period[period] = []
        for period, scores in by_period.items():
            if scores:
                queue.submit(partition, watermark, period, scores)
        return poison

    def _settle(
        self,
        partition: str,
        records: list[RawRecord],
        poison: list[tuple[RawRecord, PoisonRecord]],
        boards: dict[str, BoardSliceOutcome],
    ) -> list[tuple[object, ...]]:
        failed_from: int | None = None
        failure: BaseException | None = None
        for outcome in boards.values():
            self.tally.add(outcome, self._watermark_name(partition))
            if outcome.failed_from is not None and (failed_from is None or outcome.failed_from < failed_from):
                failed_from, failure = outcome.failed_from, outcome.error

        letters = [
            (record, self._letter(record, error))
            for record, error in poison
            if failed_from is None or record["offset"] < failed_from
        ]
        unsent = {letter.offset for letter in self._dead_letters.send([letter for _, letter in letters])}
        if unsent:
            first_unsent = min(unsent)
            if failed_from is None or first_unsent < failed_from:
                failed_from = first_unsent
                failure = DeadLetterUnavailable(f"could not dead-letter {partition} offset {first_unsent}")
        self.tally.dead_lettered += sum(1 for record, _ in letters if record["offset"] not in unsent)

        outcomes: list[tuple[object, ...]] = []
        for record in records:
            if failed_from is not None and record["offset"] >= failed_from:
                assert failure is not None
                self.tally.failed += 1
                outcomes.append(self.failure_handler(KafkaEventRecord(record), _info(failure)))
            else:
                outcomes.append(self.success_handler(record, None))
        return outcomes

    def _letter(self, record: RawRecord, error: PoisonRecord) -> DeadLetter:
        return DeadLetter(
            cluster=self._cluster,
            topic=record["topic"],
            partition=record["partition"],
            offset=record["offset"],
            timestamp=record.get("timestamp"),
            key=record.get("key"),
            value=record.get("value"),
            reason=str(error),
        )
