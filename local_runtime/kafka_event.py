"""The JSON Lambda hands a Kafka-triggered function, and the record it sends when it gives up."""

from __future__ import annotations

import base64
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

Batch = dict[TopicPartition, list[ConsumerRecord]]

_TIMESTAMP_TYPES = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}


def partition_name(partition: TopicPartition) -> str:
    """Lambda's key for a partition: "<topic>-<partition>"."""
    return f"{partition.topic}-{partition.partition}"


def lambda_kafka_event(batch: Batch, event_source_arn: str, bootstrap: str) -> dict[str, Any]:
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": event_source_arn,
        "bootstrapServers": bootstrap,
        "records": {
            partition_name(partition): [event_record(record) for record in records]
            for partition, records in batch.items()
        },
    }


def event_record(record: ConsumerRecord) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestampType": _TIMESTAMP_TYPES.get(record.timestamp_type, "CREATE_TIME"),
    }
    if record.key is not None:
        shaped["key"] = base64.b64encode(record.key).decode()
    if record.value is not None:
        shaped["value"] = base64.b64encode(record.value).decode()
    # Lambda hands header values over as Java bytes: signed.
    shaped["headers"] = [{name: signed_bytes(value or b"")} for name, value in record.headers or []]
    return shaped


def signed_bytes(data: bytes) -> list[int]:
    return [byte - 256 if byte > 127 else byte for byte in data]


def on_failure_record(
    *,
    function_arn: str,
    event_source_arn: str,
    bootstrap: str,
    partition: TopicPartition,
    records: list[ConsumerRecord],
    attempts: int,
    unhandled_error: bool,
    reason: str,
) -> dict[str, Any]:
    """Shaped like Lambda's on-failure invocation record for Kafka, plus topic, partition and reason."""
    first, last = records[0], records[-1]
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": attempts,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled" if unhandled_error else None,
            "reason": reason,
        },
        "version": "1.0",
        "timestamp": iso_timestamp(time.time() * 1000),
        "KafkaBatchInfo": {
            "batchSize": len(records),
            "eventSourceArn": event_source_arn,
            "bootstrapServers": bootstrap,
            "recordsInfo": {
                partition_name(partition): {
                    "topic": partition.topic,
                    "partition": partition.partition,
                    "firstRecordOffset": str(first.offset),
                    "lastRecordOffset": str(last.offset),
                    "firstRecordTimestamp": iso_timestamp(first.timestamp),
                    "lastRecordTimestamp": iso_timestamp(last.timestamp),
                }
            },
        },
    }


def iso_timestamp(epoch_ms: float) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
