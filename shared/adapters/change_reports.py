"""The updater's report of changed boards, sent as one SQS message per invocation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.domain.board_changes import encode_changes
from shared.domain.boards import Board


class SqsChangeReporter:
    def __init__(self, sqs_client: Any, queue_url: str) -> None:
        self._sqs = sqs_client
        self._queue_url = queue_url

    def report(self, changes: Mapping[Board, Iterable[str] | None], applied_at_ms: int) -> None:
        """Send the report (nothing when no board changed); raises whatever SQS raises."""
        if changes:
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=encode_changes(changes, applied_at_ms).decode()
            )
