"""Waiting for the asynchronous parts (the MSK trigger, the updater) as a test assertion."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from local_runtime.polling import poll_until

T = TypeVar("T")


def wait_for(condition: Callable[[], T | None], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll until `condition` returns something truthy; fail the test after `timeout` seconds."""
    try:
        return poll_until(condition, timeout=timeout, what=what)
    except TimeoutError as error:
        raise AssertionError(str(error)) from None
