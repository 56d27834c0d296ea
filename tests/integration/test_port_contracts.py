"""The port contracts (tests/support/port_contracts.py) on the real adapters and real servers: the
submission ledger and the board store on redis-server, the dead-letter queue on moto's SQS, and the
once-only dead letters on redis-server. tests/unit/test_port_contracts.py runs the same contracts
on the stand-ins."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from local_runtime.servers import LocalServers
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.dead_letters import OnceOnlyDeadLetters, SqsDeadLetterQueue
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.adapters.submission_ledger import SubmissionLedger
from shared.domain.boards import Board
from tests.support.port_contracts import (
    BoardReaderContract,
    BoardWriterContract,
    DeadLetterContract,
    Held,
    LedgerContract,
)
from tests.support.updater_fakes import RecordingDeadLetters

CONTRACT_DB = 14  # boards start empty: a logical database of its own, flushed around each test
WINDOW_SECONDS = 600


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url, db=CONTRACT_DB)
    redis_client.flushdb()
    yield redis_client
    redis_client.flushdb()
    redis_client.close()


@pytest.fixture
def unreachable_client() -> Iterator[RedisClient]:
    with create_redis_client("redis://127.0.0.1:1/0") as unreachable:
        yield unreachable


class TestSubmissionLedger(LedgerContract):
    @pytest.fixture
    def ledger(self, client: RedisClient) -> SubmissionLedger:
        return SubmissionLedger(client, WINDOW_SECONDS)

    @pytest.fixture
    def unreachable_ledger(self, unreachable_client: RedisClient) -> SubmissionLedger:
        return SubmissionLedger(unreachable_client, WINDOW_SECONDS)


@pytest.fixture
def sqs(servers: LocalServers) -> Any:
    return boto3.client("sqs", endpoint_url=servers.aws_endpoint_url, region_name="us-east-1")


class TestSqsDeadLetterQueue(DeadLetterContract):
    @pytest.fixture
    def queue_url(self, sqs: Any) -> Iterator[str]:
        url: str = sqs.create_queue(QueueName=f"contract-dlq-{uuid.uuid4().hex[:10]}")["QueueUrl"]
        yield url
        sqs.delete_queue(QueueUrl=url)

    @pytest.fixture
    def sink(self, sqs: Any, queue_url: str) -> SqsDeadLetterQueue:
        return SqsDeadLetterQueue(sqs, queue_url)

    @pytest.fixture
    def delivered(self, sqs: Any, queue_url: str) -> Callable[[], list[str]]:
        def received() -> list[str]:
            bodies: list[str] = []
            for _ in range(20):  # bounded: 13 letters take two receives, an empty one ends it
                reply = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                if not reply.get("Messages"):
                    return bodies
                bodies += [message["Body"] for message in reply["Messages"]]
            raise AssertionError("the queue kept returning messages")

        return received

    @pytest.fixture
    def refusing_sink(self, sqs: Any, queue_url: str) -> SqsDeadLetterQueue:
        return SqsDeadLetterQueue(sqs, queue_url.rsplit("/", 1)[0] + "/no-such-queue")


class TestOnceOnlyDeadLetters(DeadLetterContract):
    @pytest.fixture
    def inner(self) -> RecordingDeadLetters:
        return RecordingDeadLetters()

    @pytest.fixture
    def sink(self, inner: RecordingDeadLetters, client: RedisClient) -> OnceOnlyDeadLetters:
        return OnceOnlyDeadLetters(inner, client, WINDOW_SECONDS)

    @pytest.fixture
    def delivered(self, inner: RecordingDeadLetters) -> Callable[[], list[str]]:
        return lambda: [letter.body() for letter in inner.letters]

    @pytest.fixture
    def refusing_sink(self, client: RedisClient) -> OnceOnlyDeadLetters:
        return OnceOnlyDeadLetters(RecordingDeadLetters(refuse=True), client, WINDOW_SECONDS)


class TestRedisBoards(BoardWriterContract, BoardReaderContract):
    @pytest.fixture
    def writer(self, client: RedisClient) -> RedisBoardWriter:
        return RedisBoardWriter(client)

    @pytest.fixture
    def reader(self, client: RedisClient) -> RedisBoardReader:
        return RedisBoardReader(client)

    @pytest.fixture
    def held_on(self, client: RedisClient) -> Held:
        def held(board: Board) -> dict[str, tuple[int, int]]:
            members: list[tuple[bytes, float]] = client.zrange(board.key, 0, -1, withscores=True)  # type: ignore[assignment]
            decoded = {member.decode(): board.codec.decode(score) for member, score in members}
            return {user: (score.points, score.ticks) for user, score in decoded.items()}

        return held
