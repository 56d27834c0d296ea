"""The updater when batches come back: poison dead-lettered once, offsets that restart never swallowed.

Batches are built by hand (as Lambda's MSK trigger shapes them) and handed to a freshly loaded
updater on the real servers, so the same records can be redelivered at will.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_runtime.lambda_host import LocalFunction
from local_runtime.msk_trigger import local_cluster_arn
from local_runtime.servers import LocalServers, RedisServer
from local_runtime.stack import UPDATER_FUNCTION, RunningStack
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record
from tests.support.direct_reads import board_points
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.past_months import Month
from tests.support.waiting import wait_for


def kafka_record(topic: str, offset: int, value: bytes, *, produced_at: int | None = None) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": 0,
        "offset": offset,
        "timestamp": time.time_ns() // 1_000_000 if produced_at is None else produced_at,
        "timestampType": "CREATE_TIME",
        "value": base64.b64encode(value).decode(),
        "headers": [],
    }


def kafka_batch(cluster: str, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": local_cluster_arn(cluster),
        "records": {f"{records[0]['topic']}-0": list(records)},
    }


def score(month: Month, match: str, user: str, points: int = 1) -> bytes:
    return encode_record(ScoreEvent(event_id_for(match, user), match, user, points, month.at(60)))


def letters_for(stack: RunningStack, topic: str) -> list[dict[str, Any]]:
    """This topic's letters, taken off the queue; other tests' letters are put back at once."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    found: list[dict[str, Any]] = []
    for _ in range(20):
        messages = sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        for message in messages:
            letter = json.loads(message["Body"])
            if letter.get("topic") == topic:
                found.append(letter)
                sqs.delete_message(QueueUrl=stack.dlq_url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(
                    QueueUrl=stack.dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
    return found


def test_poison_is_dead_lettered_once_however_often_its_batch_comes_back(stack: RunningStack, month: Month) -> None:
    updater: LocalFunction = stack.new_container(UPDATER_FUNCTION)
    topic = f"poison-{uuid.uuid4().hex[:8]}"
    batch = kafka_batch(
        "cluster-p",
        [
            kafka_record(topic, 0, b"not json at all"),
            kafka_record(topic, 1, score(month, "m1", "ann", 2)),
            kafka_record(topic, 2, b'{"v": 99}'),
            kafka_record(topic, 3, score(month, "m2", "bob", 3)),
        ],
    )
    for _ in range(3):  # the first delivery, then two whole-batch retries (e.g. after a timeout)
        assert updater.invoke(batch) == {"batchItemFailures": []}
    letters = letters_for(stack, topic)
    assert sorted(letter["offset"] for letter in letters) == [0, 2]
    assert all(letter["cluster"] == "local/cluster-p" for letter in letters)
    assert board_points(stack.redis_url, month.period) == {"ann": 2, "bob": 3}


def test_offsets_restarting_in_one_cluster_are_applied_and_reported_as_an_error(
    stack: RunningStack, month: Month, caplog: pytest.LogCaptureFixture
) -> None:
    updater: LocalFunction = stack.new_container(UPDATER_FUNCTION)
    topic = f"recreated-{uuid.uuid4().hex[:8]}"
    first = [kafka_record(topic, offset, score(month, f"old-{offset}", "ann")) for offset in range(40)]
    assert updater.invoke(kafka_batch("cluster-r", first)) == {"batchItemFailures": []}
    caplog.clear()

    # The topic was deleted and created again: the same cluster, offsets from 0, new records.
    again = [kafka_record(topic, offset, score(month, f"new-{offset}", "bob")) for offset in range(10)]
    assert updater.invoke(kafka_batch("cluster-r", again)) == {"batchItemFailures": []}
    assert board_points(stack.redis_url, month.period) == {"ann": 40, "bob": 10}, "nothing swallowed"
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert any("offsets restarted" in record.getMessage() for record in errors), caplog.text
    assert any(f"local/cluster-r/{topic}-0" in getattr(record, "partitions", []) for record in errors)


def test_make_run_on_a_kept_redis_keeps_counting_after_a_restart(
    servers: LocalServers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker of `make run` keeps nothing: every start has offsets from 0, in a new cluster."""
    kept_redis = RedisServer.start(tmp_path / "redis")
    clusters: list[str] = []

    def run_and_post(run: str, expected_total: int) -> str:
        environ = own_servers_environ(REDIS_URL=kept_redis.url, AWS_ENDPOINT_URL=servers.aws_endpoint_url)
        stack = start_stack(environ, tmp_path / run)
        clusters.append(stack.trigger.event_source_arn)
        try:
            api = Api(stack.api_url, stack.api_key)
            for index in range(40):
                body = {"match_id": f"{run}-{index}", "user_id": f"{run}-player-{index % 4}", "points": 1}
                assert api.post("/v1/scores", body)[0] == 202
            status, answer = api.post("/v1/scores", {"match_id": f"{run}-probe", "user_id": "probe"})
            assert status == 202
            period = str(answer["period"])
            wait_for(
                lambda: sum(board_points(kept_redis.url, period).values()) == expected_total,
                what=f"{expected_total} points on the board after the {run} run",
            )
            return period
        finally:
            stack.stop()

    try:
        period = run_and_post("first", 41)
        run_and_post("second", 82)
        assert board_points(kept_redis.url, period)["probe"] == 2
        assert clusters[0] != clusters[1], "each broker start is a new cluster to the updater"
        assert "offsets restarted" not in caplog.text, "a new cluster is not a restart of the old one"
    finally:
        kept_redis.stop()
