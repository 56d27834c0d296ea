"""Has the updater applied everything received before an instant? Asked of Kafka, per partition.

The updater's consumer group (the MSK trigger's ConsumerGroupId) has committed, per partition, the
offset of the next record it will apply. This reads that one record: if it was received before
the instant (the `received_at` the record carries, the one the updater itself files boards by),
the updater is behind; if it was received at or after it, or the partition holds nothing past the
committed offset, that partition is done. Only the group's committed offsets are read: this
consumer never joins the group, so the updater is not rebalanced.

This relies on `received_at` growing along a partition, as ingest stamps it from its clock when it
publishes. Ingest instances' clocks may differ a little, so a record counts as "before" until
CLOCK_SKEW_MS after the instant. A retry that ingest's ledger accepted with its first try's
`received_at` breaks the order; docs/ARCHIVE.md says what that costs.
"""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from shared.domain.errors import BrokerUnavailable
from shared.domain.record_codec import decode_update

FETCH_SECONDS = 5.0
CLOCK_SKEW_MS = 60_000


class KafkaUpdaterProgress:
    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        consumer_group: str,
        *,
        security: dict[str, Any] | None = None,
        fetch_seconds: float = FETCH_SECONDS,
    ) -> None:
        self._options = {
            "bootstrap_servers": bootstrap_servers,
            "group_id": consumer_group,
            "enable_auto_commit": False,
            "client_id": "period-closer",
            "fetch_max_wait_ms": 100,
            **(security or {}),
        }
        self._topic = topic
        self._fetch_seconds = fetch_seconds

    def behind(self, until_ms: int) -> list[str]:
        try:
            consumer = KafkaConsumer(**self._options)
        except KafkaError as error:
            raise BrokerUnavailable(f"the updater's progress: {error}") from error
        try:
            return self._behind(consumer, until_ms)
        except KafkaError as error:
            raise BrokerUnavailable(f"the updater's progress: {error}") from error
        finally:
            consumer.close(autocommit=False)

    def _behind(self, consumer: KafkaConsumer, until_ms: int) -> list[str]:
        numbers = consumer.partitions_for_topic(self._topic)
        if not numbers:
            raise BrokerUnavailable(f"the broker does not know topic {self._topic!r}")
        partitions = [TopicPartition(self._topic, number) for number in sorted(numbers)]
        consumer.assign(partitions)
        committed: dict[TopicPartition, int | None] = {}
        for partition in partitions:
            offset = consumer.committed(partition)
            committed[partition] = offset
            if offset is None:
                consumer.seek_to_beginning(partition)
            else:
                consumer.seek(partition, offset)
        verdict: dict[TopicPartition, str | None] = {}  # None: done; text: why it is behind
        deadline = time.monotonic() + self._fetch_seconds
        while len(verdict) < len(partitions) and time.monotonic() < deadline:
            for partition, records in consumer.poll(timeout_ms=200, max_records=10_000).items():
                if partition in verdict or not records:
                    continue
                verdict[partition] = _judge(records[0], until_ms, committed[partition])
                consumer.pause(partition)
            for partition in partitions:
                # The broker answered a fetch at the committed offset with nothing: nothing left to apply.
                highwater = consumer.highwater(partition)
                if partition not in verdict and highwater is not None and consumer.position(partition) >= highwater:
                    verdict[partition] = None
        behind = []
        for partition in partitions:
            if partition not in verdict:
                behind.append(f"{self._topic}-{partition.partition}: no answer from the broker")
            elif verdict[partition] is not None:
                behind.append(f"{self._topic}-{partition.partition}: {verdict[partition]}")
        return behind


def _judge(record: Any, until_ms: int, committed: int | None) -> str | None:
    try:
        received_at = decode_update(record.value).received_at_ms
    except ValueError:
        return f"undecodable record at offset {record.offset} not settled yet"
    if received_at is None:
        received_at = int(record.timestamp)
    if received_at < until_ms + CLOCK_SKEW_MS:
        return f"next record to apply (offset {record.offset}, committed {committed}) was received before the close"
    return None
