"""Applying a Kafka batch to the boards: exactly-once effect over at-least-once delivery.

Powertools' Kafka BatchProcessor supplies the record model and the partial-batch response;
this subclass replaces its one-record-at-a-time loop with one atomic Lua call per
(board, partition), which also advances that board's watermark for the partition. A record
whose offset is at or below the watermark was applied before and is skipped.

Within a partition, everything from the first record that could not be applied (or
dead-lettered) onwards is reported in batchItemFailures, so Lambda redelivers from there.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord
from redis.exceptions import RedisError

from shared.dead_letters import DeadLetter, DeadLetterSink
from shared.model import ScoreEvent
from shared.periods import seconds_into_period
from shared.record_codec import PoisonRecord, decode_record
from shared.redis_store import ApplyResult, PendingScore, ReplicationLagging

ExceptionInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class BoardWriter(Protocol):
    def apply(self, period: str, partition: str, scores: list[PendingScore]) -> ApplyResult: ...

    def wait_for_replicas(self) -> None: ...


class DeadLetterUnavailable(RuntimeError):
    """A poison record could not be dead-lettered; it is retried instead of being dropped."""


def decode_score_record(record: KafkaEventRecord) -> ScoreEvent:
    try:
        value = record.decoded_value
    except (KeyError, ValueError, TypeError) as error:
        raise PoisonRecord(f"value is not base64: {error}") from None
    return decode_record(value)


def partition_name(record: KafkaEventRecord) -> str:
    return f"{record.topic}-{record.partition}"


def _info(error: BaseException) -> ExceptionInfo:
    return type(error), error, error.__traceback__


@dataclass(slots=True)
class BatchTally:
    applied: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    failed: int = 0


class ScoreBatchProcessor(BatchProcessor):
    def __init__(self, store: BoardWriter, dead_letters: DeadLetterSink) -> None:
        super().__init__(event_type=EventType.Kafka)
        self._store = store
        self._dead_letters = dead_letters
        self.tally = BatchTally()

    def process(self) -> list[tuple[object, ...]]:
        self.tally = BatchTally()
        by_partition: dict[str, list[KafkaEventRecord]] = defaultdict(list)
        for raw in self.records:
            record = KafkaEventRecord(raw)
            by_partition[partition_name(record)].append(record)

        outcomes: list[tuple[object, ...]] = []
        for partition, records in by_partition.items():
            records.sort(key=lambda record: record.offset)
            outcomes += self._process_partition(partition, records)
        return outcomes

    def _process_partition(self, partition: str, records: list[KafkaEventRecord]) -> list[tuple[object, ...]]:
        by_period: dict[str, list[PendingScore]] = defaultdict(list)
        poison: list[tuple[KafkaEventRecord, PoisonRecord]] = []
        for record in records:
            try:
                event = self.handler(record)
            except PoisonRecord as error:
                poison.append((record, error))
                continue
            period = event.period
            by_period[period].append(
                PendingScore(
                    offset=record.offset,
                    user_id=event.user_id,
                    points=event.points,
                    reached_second=seconds_into_period(event.occurred_at_ms, period),
                )
            )

        failed_from: int | None = None
        failure: BaseException | None = None
        for period, scores in by_period.items():
            try:
                result = self._store.apply(period, partition, scores)
            except RedisError as error:
                if failed_from is None or scores[0].offset < failed_from:
                    failed_from, failure = scores[0].offset, error
                continue
            self.tally.applied += result.applied
            self.tally.skipped += result.skipped
        if by_period and failed_from is None:
            try:
                self._store.wait_for_replicas()
            except (RedisError, ReplicationLagging) as error:
                failed_from, failure = records[0].offset, error

        letters = [
            (record, self._letter(record, error))
            for record, error in poison
            if failed_from is None or record.offset < failed_from
        ]
        unsent = {letter.offset for letter in self._dead_letters.send([letter for _, letter in letters])}
        if unsent:
            first_unsent = min(unsent)
            if failed_from is None or first_unsent < failed_from:
                failed_from = first_unsent
                failure = DeadLetterUnavailable(f"could not dead-letter {partition} offset {first_unsent}")
        self.tally.dead_lettered += sum(1 for record, _ in letters if record.offset not in unsent)

        outcomes: list[tuple[object, ...]] = []
        for record in records:
            if failed_from is not None and record.offset >= failed_from:
                assert failure is not None
                self.tally.failed += 1
                outcomes.append(self.failure_handler(record, _info(failure)))
            else:
                outcomes.append(self.success_handler(record, None))
        return outcomes

    @staticmethod
    def _letter(record: KafkaEventRecord, error: PoisonRecord) -> DeadLetter:
        return DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.get("timestamp"),
            key=record.key,
            value=record.get("value"),
            reason=str(error),
        )
