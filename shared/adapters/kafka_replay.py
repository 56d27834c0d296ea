"""The score topic read again from an instant, for a board rebuild by replay (shared/application/rebuild.py).

Each partition starts where the previous run of the rebuild stopped, or else at the offset the broker
gives for the instant (offsets-for-times). Brokers answer that at batch granularity (a local Tansu
answers with a batch's base offset), so the replay may start a little early, which is harmless: the
apply is idempotent and routing keeps only the board's own records. A broker that cannot answer it
is read from the beginning of each partition (docs/ARCHIVE.md). The reader never joins a consumer
group, so the updater is not rebalanced and no offset is committed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from shared.application.apply import DecodedRecord
from shared.application.rebuild import ReplayGap
from shared.domain.errors import BrokerUnavailable
from shared.domain.events import ScoreEvent
from shared.domain.moderation import ModerationAction
from shared.domain.record_codec import PoisonRecord, decode_update

logger = logging.getLogger(__name__)

POLL_MS = 500
RECORDS_PER_READ = 20_000


def watermark_name(cluster: str, topic: str, partition: int) -> str:
    """How the updater names a partition in a board's watermarks (shared/adapters/msk_batch.py)."""
    name = f"{topic}-{partition}"
    return f"{cluster}/{name}" if cluster else name


class KafkaReplaySource:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        cluster: str,
        *,
        security: dict[str, Any] | None = None,
        records_per_read: int = RECORDS_PER_READ,
    ) -> None:
        self._options = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": None,
            "enable_auto_commit": False,
            "client_id": "board-rebuild",
            "fetch_max_wait_ms": 100,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            **(security or {}),
        }
        self._topic = topic
        self._cluster = cluster
        self._records_per_read = records_per_read

    def open(self, from_ms: int, positions: Mapping[str, int]) -> KafkaReplayReader:
        try:
            consumer = KafkaConsumer(**self._options)
        except KafkaError as error:
            raise BrokerUnavailable(f"replaying {self._topic}: {error}") from error
        try:
            numbers = consumer.partitions_for_topic(self._topic)
            if not numbers:
                raise BrokerUnavailable(f"the broker does not know topic {self._topic!r}")
            names = {
                TopicPartition(self._topic, n): watermark_name(self._cluster, self._topic, n) for n in sorted(numbers)
            }
            consumer.assign(list(names))
            fresh = [partition for partition, name in names.items() if name not in positions]
            starts = _starts(consumer, fresh, from_ms)
            for partition, name in names.items():
                consumer.seek(partition, positions[name] if name in positions else starts[partition])
            return KafkaReplayReader(consumer, names, self._records_per_read)
        except KafkaError as error:
            consumer.close(autocommit=False)
            raise BrokerUnavailable(f"replaying {self._topic}: {error}") from error
        except BaseException:
            consumer.close(autocommit=False)
            raise


def _starts(consumer: KafkaConsumer, partitions: list[TopicPartition], from_ms: int) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    beginnings: dict[TopicPartition, int] = consumer.beginning_offsets(partitions)
    try:
        found = consumer.offsets_for_times({partition: from_ms for partition in partitions})
    except KafkaError as error:
        logger.warning("the broker cannot find offsets by time (%s); replaying from the beginning", error)
        return beginnings
    ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    starts = {}
    for partition in partitions:
        answer = found.get(partition)
        start = ends[partition] if answer is None else int(answer.offset)
        if beginnings[partition] > 0 and start <= beginnings[partition]:
            # The partition's first record left is at or after the instant: the records before it,
            # some of which may count on the board, were dropped by the topic's retention.
            raise ReplayGap(
                f"{partition.topic}-{partition.partition} begins at offset {beginnings[partition]}, after the records "
                "written since the period's start: the topic's retention dropped some; rebuild from the archive, "
                "or keep records longer (docs/ARCHIVE.md)"
            )
        starts[partition] = start
    return starts


class KafkaReplayReader:
    def __init__(self, consumer: KafkaConsumer, names: dict[TopicPartition, str], records_per_read: int) -> None:
        self._consumer = consumer
        self._names = names
        self._records_per_read = records_per_read

    def read(self) -> tuple[dict[tuple[str, str], list[DecodedRecord]], bool]:
        try:
            fetched = self._consumer.poll(timeout_ms=POLL_MS, max_records=self._records_per_read)
            batches: dict[tuple[str, str], list[DecodedRecord]] = {}
            for partition, records in fetched.items():
                decoded: list[DecodedRecord] = []
                for record in records:
                    try:
                        event: ScoreEvent | ModerationAction | PoisonRecord = decode_update(record.value)
                    except PoisonRecord as error:
                        event = error
                    timestamp = record.timestamp if isinstance(record.timestamp, int) and record.timestamp >= 0 else -1
                    decoded.append((record.offset, event, timestamp))
                if decoded:
                    batches[(f"{partition.topic}-{partition.partition}", self._names[partition])] = decoded
            at_end = all(self._at_end(partition) for partition in self._names)
        except KafkaError as error:
            raise BrokerUnavailable(f"replaying: {error}") from error
        return batches, at_end

    def _at_end(self, partition: TopicPartition) -> bool:
        highwater = self._consumer.highwater(partition)
        return highwater is not None and self._consumer.position(partition) >= highwater

    def positions(self) -> dict[str, int]:
        try:
            return {name: int(self._consumer.position(partition)) for partition, name in self._names.items()}
        except KafkaError as error:
            raise BrokerUnavailable(f"replaying: {error}") from error

    def close(self) -> None:
        self._consumer.close(autocommit=False)
