"""Helpers for the board rebuild's tests on real servers."""

from __future__ import annotations

from local_runtime.msk_trigger import broker_cluster_id, local_cluster_arn
from local_runtime.stack import RunningStack
from shared.adapters.msk_batch import kafka_cluster_of


def stack_cluster(stack: RunningStack) -> str:
    """How the local MSK trigger scopes this broker's partitions in the boards' watermarks."""
    cluster_id = broker_cluster_id(stack.kafka_bootstrap)
    assert cluster_id
    return kafka_cluster_of({"eventSourceArn": local_cluster_arn(cluster_id)})
