"""Dead letters read back from the local queue, one topic's at a time."""

from __future__ import annotations

import json
from typing import Any

import boto3

from local_runtime.stack import RunningStack


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
