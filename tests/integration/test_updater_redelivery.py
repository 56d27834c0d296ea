"""The updater when batches come back: every board ends equal to the truth, poison is dead-lettered once,
offsets that restart are never swallowed.

Batches are built by hand (as Lambda's MSK trigger shapes them) and handed to a freshly loaded
updater on the real servers, so the same records can be redelivered at will.
"""

from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_runtime.lambda_host import LocalFunction
from local_runtime.msk_trigger import local_cluster_arn
from local_runtime.servers import LocalServers, RedisServer
from local_runtime.stack import UPDATER_FUNCTION, RunningStack
from shared.adapters.redis_client import create_redis_client
from shared.domain.boards import Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record
from tests.support.dead_letter_reads import letters_for
from tests.support.direct_reads import BoardId, board_ids_of, board_points
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


def failed_offsets(answer: dict[str, Any]) -> list[int]:
    return [failure["itemIdentifier"]["offset"] for failure in answer["batchItemFailures"]]


def truth_of(events: Sequence[ScoreEvent]) -> dict[BoardId, dict[str, int]]:
    """Each board's totals from the distinct events, with every window enabled and open."""
    seen: set[str] = set()
    boards: dict[BoardId, dict[str, int]] = {}
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            for board in board_ids_of(event.occurred_at_ms):
                totals = boards.setdefault(board, {})
                totals[event.user_id] = totals.get(event.user_id, 0) + event.points
    return boards


def points_of_players(redis_url: str, board: BoardId, tag: str) -> dict[str, int]:
    """The board's entries for this test's players (the all-time board is shared by every test)."""
    found = board_points(redis_url, Window(board[0]).parse_period(board[1]))
    return {player: points for player, points in found.items() if player.endswith(tag)}


def test_every_board_equals_the_truth_after_one_board_failed_mid_batch_and_redeliveries(stack: RunningStack) -> None:
    updater: LocalFunction = stack.new_container(UPDATER_FUNCTION)
    topic, tag = f"boards-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    year = random.choice([2021, 2022, 2023, 2024])  # 1 September is no Monday: one ISO week spans both months
    before_midnight = int(datetime(year, 8, 31, 22, tzinfo=UTC).timestamp() * 1000)
    events = [
        ScoreEvent(
            event_id_for(f"m{i}", f"p{i % 3}-{tag}"), f"m{i}", f"p{i % 3}-{tag}", i + 1, before_midnight + i * 900_000
        )
        for i in range(16)
    ]
    records = [kafka_record(topic, offset, encode_record(event)) for offset, event in enumerate([*events, events[3]])]
    truth = truth_of(events)
    assert len(truth) == 6, "two days, one week spanning August and September, two months, all time"
    first_of_september = Window.DAILY.parse_period(f"{year}-09-01")

    redis_client = create_redis_client(stack.redis_url)
    try:
        redis_client.set(first_of_september.key, "not a sorted set")  # that board's apply call fails
        answer = updater.invoke(kafka_batch("cluster-b", records))
        assert failed_offsets(answer) == list(range(8, 17)), "from the first record on the failed board"
        assert (
            points_of_players(stack.redis_url, (Window.WEEKLY, f"{year}-W35"), tag)
            == truth[(Window.WEEKLY, f"{year}-W35")]
        )

        redis_client.delete(first_of_september.key)
        assert updater.invoke(kafka_batch("cluster-b", records[8:])) == {"batchItemFailures": []}
        assert updater.invoke(kafka_batch("cluster-b", records)) == {"batchItemFailures": []}
    finally:
        redis_client.close()
    for board, expected in truth.items():
        assert points_of_players(stack.redis_url, board, tag) == expected, board


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
