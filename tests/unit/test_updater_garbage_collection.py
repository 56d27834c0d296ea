"""The updater pauses cycle collection for the length of a batch, and only then, whatever the batch does."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from local_runtime.lambda_host import LambdaContext
from tests.support.handler_calls import load
from tests.support.updater_fakes import kafka_event, record, score


@pytest.fixture
def updater(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    handler = load("score_updater")
    module = __import__(handler.__module__)
    monkeypatch.setattr(module, "report", lambda batch: None)
    monkeypatch.setattr(module, "report_changes", lambda batch: None)
    yield handler, module
    gc.enable()


def test_a_batch_runs_without_cycle_collection_and_it_comes_back_after(
    updater: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    handler, module = updater
    seen: list[bool] = []

    def process(event: Any, record_handler: Any, processor: Any, context: Any) -> dict[str, Any]:
        seen.append(gc.isenabled())
        return {"batchItemFailures": []}

    monkeypatch.setattr(module, "process_partial_response", process)
    assert handler(kafka_event(record(0, 1, score("ann", "m1"))), LambdaContext("test")) == {"batchItemFailures": []}
    assert seen == [False]
    assert gc.isenabled()


def test_collection_comes_back_when_the_batch_raises(updater: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    handler, module = updater

    def process(event: Any, record_handler: Any, processor: Any, context: Any) -> dict[str, Any]:
        raise RuntimeError("a bug in the batch")

    monkeypatch.setattr(module, "process_partial_response", process)
    with pytest.raises(RuntimeError, match="a bug in the batch"):
        handler(kafka_event(record(0, 1, score("ann", "m1"))), LambdaContext("test"))
    assert gc.isenabled()


def test_a_process_that_had_collection_off_keeps_it_off(updater: tuple[Any, Any]) -> None:
    _, module = updater
    gc.disable()
    with module.garbage_collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
