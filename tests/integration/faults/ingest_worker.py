"""The ingest function in a process of its own that dies after Kafka acknowledged a POST and before
the submission ledger recorded it, as a Lambda container killed mid-request would.

    python -m tests.integration.faults.ingest_worker <handler file>  < API Gateway proxy event (JSON)
Environment: the function's environment (REDIS_URL, KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC, ...).
Exits by SIGKILL when the publish succeeded; prints the handler's answer otherwise.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from local_runtime.lambda_host import LambdaContext, load_handler
from local_runtime.stack import REPO_ROOT
from shared.domain.events import ScoreEvent


def die_before_confirming(_events: Sequence[ScoreEvent]) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    handler = load_handler(Path(sys.argv[1]), repo_root=REPO_ROOT)
    # Each load has its own copy of `shared`, so the ledger is reached through the handler's module.
    inspect.unwrap(handler).__globals__["ingest"]._ledger.confirm = die_before_confirming
    event = json.load(sys.stdin)
    print(json.dumps(handler(event, LambdaContext("ingest-worker", 256, 10))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
