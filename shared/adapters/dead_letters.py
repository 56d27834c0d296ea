"""The dead-letter adapters: poison records go to an SQS queue with everything needed to replay
them, once each however often their batch is redelivered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools import Logger
from redis.exceptions import RedisClusterException, RedisError

from shared.adapters.keys import dead_letter_key
from shared.adapters.redis_client import RedisClient
from shared.application.apply import DeadLetter, DeadLetterSink

logger = Logger(child=True)

LEDGER_FAILURES = (RedisError, RedisClusterException)

SQS_BATCH_LIMIT = 10


class SqsDeadLetterQueue:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url

    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        if not self._queue_url:
            return list(letters)
        unsent: list[DeadLetter] = []
        for start in range(0, len(letters), SQS_BATCH_LIMIT):
            chunk = letters[start : start + SQS_BATCH_LIMIT]
            entries = [{"Id": str(index), "MessageBody": letter.body()} for index, letter in enumerate(chunk)]
            try:
                reply = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            except Exception:  # any transport or service error means "not sent": retried with the batch
                unsent.extend(chunk)
                continue
            unsent.extend(chunk[int(failure["Id"])] for failure in reply.get("Failed", []))
        return unsent


class OnceOnlyDeadLetters:
    """Sends each poison record once, however often its batch is redelivered, even concurrently.

    Each letter is claimed in Redis (`SET NX` with a short lease) before it is sent, and marked sent
    for `window_seconds` after SQS took it. A letter claimed by another invocation, or by one that
    died before sending (until its lease runs out), is reported unsent: its record is retried, never
    dropped. Without Redis, letters are sent unchecked (at least once).
    """

    SENDING = b"sending"
    SENT = b"sent"
    LEASE_MS = 30_000

    def __init__(self, sink: DeadLetterSink, client: RedisClient, window_seconds: int) -> None:
        self._sink = sink
        self._client = client
        self._window_seconds = window_seconds

    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        if not letters:
            return []
        keys = [dead_letter_key(letter.fingerprint()) for letter in letters]
        try:
            pipe = self._client.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, self.SENDING, nx=True, px=self.LEASE_MS, get=True)
            previous = pipe.execute()
        except LEDGER_FAILURES as error:
            logger.warning("dead-letter marks unavailable; sending without the check", error=str(error))
            return self._sink.send(letters)
        claimed = [(key, letter) for key, letter, before in zip(keys, letters, previous, strict=True) if before is None]
        in_flight = [
            letter for letter, before in zip(letters, previous, strict=True) if before not in (None, self.SENT, "sent")
        ]
        unsent = self._sink.send([letter for _, letter in claimed])
        unsent_ids = {id(letter) for letter in unsent}
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, letter in claimed:
                if id(letter) in unsent_ids:
                    pipe.delete(key)
                else:
                    pipe.set(key, self.SENT, ex=self._window_seconds)
            pipe.execute()
        except LEDGER_FAILURES as error:
            logger.warning("could not mark dead letters as sent; a redelivery may send them again", error=str(error))
        return [*unsent, *in_flight]
