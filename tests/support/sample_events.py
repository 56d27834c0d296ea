"""The sample events in events/, loaded the one way every test loads them.

The API samples carry no `occurred_at` and no `period`: a score counts in, and a read asks for,
the month the test runs in, whatever the date. Loading stamps the request time with now, as
API Gateway would.
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.timestamps import now_ms
from tests.support.paths import EVENTS_DIR


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>, safe to change."""
    event: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    context = event.get("requestContext")
    if isinstance(context, dict) and "requestTimeEpoch" in context:
        context["requestTimeEpoch"] = now_ms()
    return event
