"""The dead-letter adapter: poison records go to an SQS queue with everything needed to replay them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

SQS_BATCH_LIMIT = 10
MAX_INLINE_VALUE_CHARS = 200_000  # keeps a letter under SQS's 256 KiB message limit


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: str | None  # base64, exactly as delivered
    value: str | None  # base64, exactly as delivered
    reason: str

    def body(self) -> str:
        document: dict[str, Any] = {
            "reason": self.reason,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "key": self.key,
            "value": self.value,
        }
        if self.value is not None and len(self.value) > MAX_INLINE_VALUE_CHARS:
            document["value"] = self.value[:MAX_INLINE_VALUE_CHARS]
            document["value_truncated"] = True
        return orjson.dumps(document).decode()


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Send letters; return the ones that could not be sent."""


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
