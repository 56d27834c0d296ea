"""Lambda's SQS event source mapping, emulated: a thread long-polls a (moto) queue and invokes the
function with `aws:sqs` events of up to `batch_size` messages. Messages are deleted after the
function answers; a failed invocation leaves them to come back after the visibility timeout."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import boto3

from local_runtime.lambda_host import LocalFunction

logger = logging.getLogger(__name__)

WAIT_SECONDS = 1  # long poll: moto answers as soon as a message arrives


class SqsTrigger:
    def __init__(
        self,
        function: LocalFunction,
        queue_url: str,
        *,
        aws_endpoint_url: str,
        region: str,
        batch_size: int = 10,
        pollers: int = 4,
        queue_arn: str = "arn:aws:sqs:us-east-1:123456789012:local",
    ) -> None:
        self.function = function
        self.queue_url = queue_url
        self.batch_size = batch_size
        self.queue_arn = queue_arn
        self._sqs: Any = boto3.client(
            "sqs",
            endpoint_url=aws_endpoint_url,
            region_name=region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pollers = pollers  # Lambda polls an SQS queue with several concurrent batches
        self._counts = threading.Lock()
        self.invocations = 0  # started
        self.handled = 0  # finished, failed or not
        self.failures = 0

    def start(self) -> SqsTrigger:
        for number in range(self._pollers):
            thread = threading.Thread(
                target=self._run, name=f"sqs-trigger-{self.function.function_name}-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def pending_messages(self) -> int:
        """Messages in the queue, visible or in flight (moto counts exactly)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        found = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(found.get(name, 0)) for name in names)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                reply = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    WaitTimeSeconds=WAIT_SECONDS,
                    AttributeNames=["All"],
                )
            except Exception as error:
                logger.warning("polling %s failed: %s", self.queue_url, error)
                self._stopping.wait(1.0)
                continue
            messages = reply.get("Messages", [])
            if messages:
                self._deliver(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        with self._counts:
            self.invocations += 1
        try:
            self.function.invoke({"Records": [self._record(message) for message in messages]})
        except Exception as failure:
            with self._counts:
                self.failures += 1
            logger.warning("%s failed on an SQS batch: %s", self.function.function_name, failure)
            return
        finally:
            with self._counts:
                self.handled += 1
        entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)]
        try:
            self._sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception as error:
            logger.warning("could not delete handled messages: %s", error)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        body = message["Body"]
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": message.get("Attributes", {"SentTimestamp": str(int(time.time() * 1000))}),
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": "us-east-1",
        }
