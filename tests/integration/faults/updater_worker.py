"""The updater (MSK trigger emulation + score_updater) in a process of its own, so a test can SIGKILL it.

    python -m tests.integration.faults.updater_worker
Environment: REDIS_URL, KAFKA_BOOTSTRAP_SERVERS, AWS_ENDPOINT_URL (existing servers), WORKER_TOPIC,
WORKER_GROUP, WORKER_DLQ, and optionally DIE_AFTER_BATCHES=n: after the n-th batch that applied
records, the process SIGKILLs itself after the Redis writes and before the trigger commits.
Prints "ready" once it holds its partitions; runs until SIGTERM.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from local_runtime.stack import UPDATER_FUNCTION, LocalStack


def main() -> int:
    stack = LocalStack(
        api_port=0,
        topic=os.environ["WORKER_TOPIC"],
        consumer_group=os.environ["WORKER_GROUP"],
        dlq_name=os.environ["WORKER_DLQ"],
    ).start()
    updater = stack.functions[UPDATER_FUNCTION]
    die_after = int(os.environ.get("DIE_AFTER_BATCHES", "0"))
    applied_batches = 0
    handler = updater.handler

    def handler_that_dies(event: dict[str, Any], context: Any) -> Any:
        nonlocal applied_batches
        response = handler(event, context)
        applied_batches += 1
        if applied_batches == die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return response

    if die_after:
        updater.handler = handler_that_dies
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print("ready", flush=True)
    stopped.wait(600)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
