"""Ground truth for the fault suite: a workload of score events and the boards it must produce.

The truth is computed here from the accepted events with plain Python (the period ids from
`datetime`), independently of the board schedule, the Lua apply script and the score codecs,
and compared with every enabled board read straight from Redis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from local_runtime.msk_trigger import MskTrigger
from local_runtime.servers import RedisServer
from local_runtime.stack import UPDATER_FUNCTION, RunningStack
from shared.adapters.redis_client import create_redis_client
from shared.domain.boards import Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record, record_key
from tests.support.direct_reads import BoardId, board_ids_of
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.waiting import wait_for

# Four weeks from a Wednesday: 28 daily boards, two monthly ones, five ISO weeks (2021-W35, from
# Monday 30 August, spans both months) and the all-time board. The stacks enable every window.
FAULT_START_MS = int(datetime(2021, 8, 18, tzinfo=UTC).timestamp() * 1000)
FAULT_DAYS = 28
FAULT_WINDOWS = tuple(Window)


def fault_environ(**extra: str) -> dict[str, str]:
    """The environment of a fault stack: every window enabled (each open to late events for the
    longest grace allowed, as in every integration stack), on the servers `extra` names."""
    return own_servers_environ(LEADERBOARD_WINDOWS=",".join(FAULT_WINDOWS), **extra)


@dataclass(frozen=True)
class Workload:
    """Score events spread over four weeks; `truth` is what each board must hold once they are all applied."""

    events: list[ScoreEvent]

    @classmethod
    def random(cls, count: int, players: int, *, seed: int, prefix: str = "m") -> Workload:
        rng = random.Random(seed)
        events = []
        for index in range(count):
            user = f"player-{rng.randrange(players):05d}"
            match = f"{prefix}-{index}"
            occurred = FAULT_START_MS + rng.randrange(FAULT_DAYS * 86_400) * 1000
            events.append(ScoreEvent(event_id_for(match, user), match, user, rng.randint(1, 50), occurred))
        return cls(events)

    def truth(self, windows: Sequence[Window] = FAULT_WINDOWS) -> dict[BoardId, dict[str, int]]:
        seen: set[tuple[str, str]] = set()
        boards: dict[BoardId, dict[str, int]] = {}
        for event in self.events:
            if (event.match_id, event.user_id) in seen:
                continue
            seen.add((event.match_id, event.user_id))
            for board in board_ids_of(event.occurred_at_ms):
                if board[0] in windows:
                    totals = boards.setdefault(board, {})
                    totals[event.user_id] = totals.get(event.user_id, 0) + event.points
        return boards

    def as_json(self, event: ScoreEvent) -> dict[str, Any]:
        return {
            "match_id": event.match_id,
            "user_id": event.user_id,
            "points": event.points,
            "occurred_at": event.occurred_at_ms,
        }


def produce(
    bootstrap: str, topic: str, payloads: Sequence[tuple[bytes, bytes]], *, per_second: float | None = None
) -> list[tuple[int, int]]:
    """Produce (key, value) records, optionally paced; returns each record's (partition, offset)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, enable_idempotence=True)
    try:
        futures = []
        started = time.monotonic()
        for index, (key, value) in enumerate(payloads):
            if per_second:
                ahead = started + index / per_second - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            futures.append(producer.send(topic, key=key, value=value))
        producer.flush(timeout=60)
        return [(meta.partition, meta.offset) for meta in (future.get(timeout=60) for future in futures)]
    finally:
        producer.close(timeout=10)


def event_payloads(events: Sequence[ScoreEvent]) -> list[tuple[bytes, bytes]]:
    return [(record_key(event), encode_record(event)) for event in events]


def boards_points(redis_url: str, boards: Sequence[BoardId]) -> dict[BoardId, dict[str, int]]:
    """Everyone's points on each board, read straight from Redis, decoded with the board's own codec."""
    client = create_redis_client(redis_url, decode_responses=True)
    try:
        found: dict[BoardId, dict[str, int]] = {}
        for window, period in boards:
            board = window.parse_period(period)
            members: list[tuple[str, float]] = client.zrange(board.key, 0, -1, withscores=True)  # type: ignore[assignment]
            found[(window, period)] = {member: board.codec.points_of(score) for member, score in members}
        return found
    finally:
        client.close()


def assert_board_matches(
    redis_url: str, workload: Workload, *, windows: Sequence[Window] = FAULT_WINDOWS, timeout: float = 120.0
) -> None:
    """Every board of every enabled window equals the truth: nothing lost, nothing counted twice."""
    truth = workload.truth(windows)
    assert {window for window, _ in truth} == set(windows), "the workload reaches a board of every window"
    boards = sorted(truth)
    try:
        wait_for(lambda: boards_points(redis_url, boards) == truth, timeout=timeout, what="every board == truth")
    except AssertionError:
        differences = []
        for board, found in boards_points(redis_url, boards).items():
            expected = truth[board]
            short = {u: expected[u] - found.get(u, 0) for u in expected if found.get(u, 0) < expected[u]}
            over = {u: found[u] - expected.get(u, 0) for u in found if found[u] > expected.get(u, 0)}
            if short or over:
                differences.append(
                    f"{board[0]} {board[1]}: short {len(short)} players {list(short.items())[:3]}, "
                    f"over {len(over)} players {list(over.items())[:3]}"
                )
        summary = f"{len(differences)} of {len(boards)} boards differ from truth"
        raise AssertionError("\n".join([summary, *differences])) from None


def wait_until_consumed(stack: RunningStack, *, timeout: float = 120.0) -> None:
    """Until the updater's group has committed every record now on the topic: a board that equals the
    truth early could still change when a late duplicate is applied."""
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap)
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        partitions = [TopicPartition(stack.topic, p) for p in sorted(consumer.partitions_for_topic(stack.topic) or ())]
        ends = consumer.end_offsets(partitions)

        def all_committed() -> bool:
            committed = admin.list_group_offsets(stack.consumer_group).get(stack.consumer_group, {})
            return all(end == 0 or (tp in committed and committed[tp].offset >= end) for tp, end in ends.items())

        wait_for(all_committed, timeout=timeout, what="the updater to commit every record")
    finally:
        consumer.close()
        admin.close()


def dead_letters(stack: RunningStack) -> list[dict[str, Any]]:
    """Drain the dead-letter queue (bounded: stops after three empty receives)."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws_endpoint_url, region_name="us-east-1")
    letters: list[dict[str, Any]] = []
    empty = 0
    for _ in range(2000):
        reply = sqs.receive_message(QueueUrl=stack.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = reply.get("Messages", [])
        if not messages:
            empty += 1
            if empty >= 3:
                break
            time.sleep(0.2)
            continue
        empty = 0
        for message in messages:
            letters.append(orjson.loads(message["Body"]))
            sqs.delete_message(QueueUrl=stack.dlq_url, ReceiptHandle=message["ReceiptHandle"])
    return letters


def second_trigger(stack: RunningStack) -> MskTrigger:
    """Another MSK poller in the same consumer group, with a handler loaded separately (a second container)."""
    trigger_spec = dataclasses.replace(
        stack.template.kafka_trigger_for(UPDATER_FUNCTION), consumer_group_id=stack.consumer_group
    )
    return MskTrigger(
        stack.new_container(UPDATER_FUNCTION),
        trigger_spec,
        bootstrap=stack.kafka_bootstrap,
        dead_letter_queue_url=stack.dlq_url,
        aws_endpoint_url=stack.aws_endpoint_url,
        max_backoff_seconds=1.0,
    )


@contextlib.contextmanager
def stack_of_its_own(tmp_path: Path, **environment: str) -> Iterator[RunningStack]:
    """A stack on servers of its own (so they can be killed), Redis with AOF everysec; `environment`
    overrides settings such as KAFKA_SEND_TIMEOUT_SECONDS."""
    redis_server = RedisServer.start(tmp_path / "redis", args=["--appendonly", "yes", "--appendfsync", "everysec"])
    try:
        running = start_stack(
            fault_environ(REDIS_URL=redis_server.url, **environment),
            tmp_path,
            trigger_settings={"max_backoff_seconds": 1.0},
        )
        running.servers.redis = redis_server
        try:
            yield running
        finally:
            running.stop()
    finally:
        redis_server.stop()


class Pacer(threading.Thread):
    """Runs `produce` in the background so a fault can be injected while records flow."""

    def __init__(self, bootstrap: str, topic: str, payloads: Sequence[tuple[bytes, bytes]], per_second: float) -> None:
        super().__init__(daemon=True)
        self._args = (bootstrap, topic, payloads)
        self._per_second = per_second
        self.positions: list[tuple[int, int]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.positions = produce(*self._args, per_second=self._per_second)
        except BaseException as error:  # reported by finish()
            self.error = error

    def finish(self, timeout: float = 120.0) -> list[tuple[int, int]]:
        self.join(timeout)
        assert not self.is_alive(), "producer did not finish in time"
        if self.error:
            raise self.error
        return self.positions
