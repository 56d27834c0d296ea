"""Topic checks over the Kafka protocol, for Tansu and for any broker named by the environment."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError


class TopicNotReady(RuntimeError):
    """The topic is missing, or has another partition count than expected."""


def topic_partition_count(bootstrap: str, topic: str) -> int | None:
    """Partitions the broker's metadata lists for `topic`; None if it does not know the topic."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="local-runtime-admin")
    try:
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    for entry in described:
        if entry.get("name") == topic and entry.get("error_code", 0) == 0:
            return len(entry.get("partitions") or [])
    return None


def wait_for_topic(bootstrap: str, topic: str, partitions: int, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    seen: int | None = None
    while time.monotonic() < deadline:
        try:
            seen = topic_partition_count(bootstrap, topic)
        except KafkaError:
            seen = None
        if seen == partitions:
            return
        if seen is not None and seen > 0:
            raise TopicNotReady(f"topic {topic!r} has {seen} partitions, expected {partitions}")
        time.sleep(0.1)
    raise TopicNotReady(f"topic {topic!r} not in the metadata of {bootstrap} after {timeout:.0f} s")


def ensure_topic(bootstrap: str, topic: str, partitions: int, *, timeout: float = 30.0) -> None:
    """Create `topic` on any Kafka-protocol broker unless it exists, then wait for its metadata.

    Replication factor 1: meant for single-node local brokers, not for MSK.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="local-runtime-admin")
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
    wait_for_topic(bootstrap, topic, partitions, timeout=timeout)
