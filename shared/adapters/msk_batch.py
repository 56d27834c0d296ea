"""The updater's transport: Lambda's `aws:kafka` batches, read with Powertools' Kafka BatchProcessor.

ScoreBatchProcessor keeps Powertools' record handling and partial-batch response but replaces its
one-record-at-a-time loop: it groups the raw records by partition, decodes them in offset order for
ScoreApplier (shared/application/apply.py), and turns each partition's settlement into the
batchItemFailures Lambda redelivers from.
"""

from __future__ import annotations

import binascii
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from itertools import groupby, repeat
from operator import itemgetter
from types import TracebackType
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.kafka_event import KafkaEventRecord

from shared.application.apply import (
    BatchTally,
    BoardWriter,
    DeadLetter,
    DeadLetterSink,
    DecodedRecord,
    LetterFor,
    ScoreApplier,
)
from shared.application.moderation_apply import ModerationStateStore
from shared.domain.boards import Board, BoardSchedule
from shared.domain.errors import StoreUnavailable
from shared.domain.events import ScoreEvent
from shared.domain.moderation import ModerationAction
from shared.domain.record_codec import PoisonRecord, decode_update

ExceptionInfo = tuple[type[BaseException], BaseException, TracebackType | None]
RawRecord = dict[str, Any]


def decode_score_record(record: Mapping[str, Any]) -> ScoreEvent | ModerationAction:
    """The record handler: a raw `aws:kafka` record (as Lambda sends it) to a score event or a
    moderation action, or PoisonRecord."""
    value = record.get("value")
    if value is None:
        raise PoisonRecord("record has no value")
    try:
        decoded = binascii.a2b_base64(value)
    except (binascii.Error, ValueError, TypeError) as error:
        raise PoisonRecord(f"value is not base64: {error}") from None
    return decode_update(decoded)


def keyed_players(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """The user ids a batch's records are keyed by (base64 in the event): whose bans to read up front."""
    players: set[str] = set()
    for key in {record.get("key") for record in records}:
        if not isinstance(key, str):
            continue
        try:
            players.add(binascii.a2b_base64(key).decode())
        except (binascii.Error, ValueError):
            continue
    return players


def partition_name(topic: str, number: int) -> str:
    return f"{topic}-{number}"


def kafka_cluster_of(event: Mapping[str, Any]) -> str:
    """The Kafka cluster a batch came from: the resource part of an MSK event's source ARN
    (`<cluster name>/<cluster uuid>`), which changes when the cluster is recreated; "" when the
    event does not say (self-managed Kafka)."""
    arn = event.get("eventSourceArn")
    if not isinstance(arn, str) or ":cluster/" not in arn:
        return ""
    return arn.split(":cluster/", 1)[1]


def _info(error: BaseException) -> ExceptionInfo:
    return type(error), error, error.__traceback__


class ScoreBatchProcessor(BatchProcessor):
    def __init__(
        self,
        store: BoardWriter,
        dead_letters: DeadLetterSink,
        schedule: BoardSchedule,
        moderation: ModerationStateStore | None = None,
    ) -> None:
        """`moderation`: who is banned, kept between batches (None: in this process' memory only)."""
        super().__init__(event_type=EventType.Kafka)
        self._applier = ScoreApplier(store, dead_letters, schedule, moderation)
        self._cluster = ""
        self.tally = BatchTally()
        self.changes: dict[Board, set[str] | None] = {}

    def for_event(self, event: Mapping[str, Any]) -> ScoreBatchProcessor:
        """This processor, set up for the Kafka cluster `event` came from (its watermarks are that cluster's)."""
        self._cluster = kafka_cluster_of(event)
        return self

    def _watermark_name(self, partition: str) -> str:
        return f"{self._cluster}/{partition}" if self._cluster else partition

    def process(self) -> list[tuple[object, ...]]:
        # Records stay the raw dicts Lambda sent: wrapping 10 000 of them in Powertools' data class
        # cost more than the Redis work. Only a failed record is wrapped, for the failure report.
        self.tally, self.changes = BatchTally(), {}
        try:
            # Reads who is banned, once; the records' keys are decoded only if there are many bans.
            batch = self._applier.begin(lambda: keyed_players(self.records), records=len(self.records))
        except StoreUnavailable as error:
            # Nothing was written: every record fails, as when the boards cannot be reached.
            self.tally.failed = len(self.records)
            return [self.failure_handler(KafkaEventRecord(record), _info(error)) for record in self.records]
        self.tally = batch.tally
        by_partition: dict[str, list[RawRecord]] = defaultdict(list)
        # Lambda sends each partition's records together: grouped run by run, not record by record.
        for (topic, number), run in groupby(self.records, key=itemgetter("topic", "partition")):
            by_partition[partition_name(topic, number)].extend(run)
        for records in by_partition.values():
            records.sort(key=itemgetter("offset"))
        batch.submit_in_turns(
            {
                partition: (self._watermark_name(partition), self._decoded(records))
                for partition, records in by_partition.items()
            }
        )
        settlements = batch.settle(self._letter_for(by_partition))
        self.changes = batch.changes

        outcomes: list[tuple[object, ...]] = []
        for partition, records in by_partition.items():
            failed_from, failure = settlements[partition]
            succeeded = records
            if failed_from is not None:
                assert failure is not None
                succeeded = [record for record in records if record["offset"] < failed_from]
                for record in records:
                    if record["offset"] >= failed_from:
                        outcomes.append(self.failure_handler(KafkaEventRecord(record), _info(failure)))
            # What Powertools' success_handler does for each record, at once for all of them; it too
            # keeps the raw records, whatever its annotation says.
            self.success_messages.extend(succeeded)  # type: ignore[arg-type]
            outcomes.extend(zip(repeat("success"), repeat(None), succeeded))
        return outcomes

    def _clean(self) -> None:
        try:
            super()._clean()  # type: ignore[no-untyped-call]
        finally:
            # Powertools keeps the records (and failures, with their tracebacks) until the next batch comes,
            # whose start would then free these 10 000 dicts while Redis waits for its first call (2 ms);
            # dropped now, they go with the event. The answer is already built (batch_response).
            self.records, self.success_messages, self.fail_messages, self.exceptions = [], [], [], []

    def _decoded(self, records: list[RawRecord]) -> Iterator[DecodedRecord]:
        handler = self.handler
        for record in records:
            produced_at = record.get("timestamp")
            if type(produced_at) is not int or produced_at < 0:
                produced_at = -1
            try:
                event: ScoreEvent | ModerationAction | PoisonRecord = handler(record)
            except PoisonRecord as error:
                event = error
            yield record["offset"], event, produced_at

    def _letter_for(self, by_partition: Mapping[str, list[RawRecord]]) -> LetterFor:
        by_offset: dict[str, dict[int, RawRecord]] = {}  # built only for partitions holding poison

        def letter_for(partition: str, offset: int, error: PoisonRecord) -> DeadLetter:
            records = by_offset.get(partition)
            if records is None:
                records = by_offset[partition] = {record["offset"]: record for record in by_partition[partition]}
            record = records[offset]
            return DeadLetter(
                cluster=self._cluster,
                topic=record["topic"],
                partition=record["partition"],
                offset=offset,
                timestamp=record.get("timestamp"),
                key=record.get("key"),
                value=record.get("value"),
                reason=str(error),
            )

        return letter_for
