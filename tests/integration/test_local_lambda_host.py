"""The local Lambda host behaves as Lambda does: Timeout enforced, several containers at once,
and each function's logs and metrics under its own name."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from local_runtime.api_gateway import ApiGateway
from local_runtime.lambda_host import InvocationTimedOut, LocalFunction, load_handler
from local_runtime.msk_trigger import MskTrigger
from local_runtime.servers import KafkaBroker
from local_runtime.stack import LOCAL_CONCURRENCY, RunningStack
from local_runtime.template import ApiRoute, KafkaTrigger
from shared.domain.events import event_id_for
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.past_months import Month
from tests.support.waiting import wait_for

# Every container of the handler imports the same gate module (only `shared` is private to a
# container), so one event releases the invocations of them all.
BLOCKING_HANDLER = """
import threading, uuid
import {gate}
CONTAINER = uuid.uuid4().hex

def lambda_handler(event, context):
    barrier = event.get("barrier") if isinstance(event, dict) else None
    if barrier is not None:
        barrier.wait(timeout=60)
    else:
        {gate}.RELEASE.wait(timeout=60)
    return {{"statusCode": 200, "body": CONTAINER}}
"""


@pytest.fixture
def handler_file(tmp_path: Path) -> Iterator[Path]:
    gate = f"gate_{uuid.uuid4().hex}"
    (tmp_path / f"{gate}.py").write_text("import threading\nRELEASE = threading.Event()\n")
    path = tmp_path / "app.py"
    path.write_text(BLOCKING_HANDLER.format(gate=gate))
    try:
        yield path
    finally:
        release(path)


def release(handler_file: Path) -> None:
    """Let every blocked invocation of the handler in `handler_file` finish."""
    gate = next(word for word in handler_file.read_text().split() if word.startswith("gate_"))
    if gate in sys.modules:
        sys.modules[gate].RELEASE.set()


def http_call(port: int, method: str, path: str) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_an_invocation_past_its_timeout_is_a_502_and_its_container_is_replaced(handler_file: Path) -> None:
    route = ApiRoute("Slow", "GET", "/slow", auth_required=False)
    slow = LocalFunction(
        "slow", load_handler(handler_file), timeout_seconds=0.2, new_container=lambda: load_handler(handler_file)
    )
    api = ApiGateway((route,), {"Slow": slow}, api_key="k", port=0).start()
    try:
        status, answer = http_call(api.port, "GET", "/slow")
        assert (status, answer["error"]["code"]) == (502, "function_timeout")
        assert slow.containers_started == 1 and slow.in_flight == 0
        with pytest.raises(InvocationTimedOut, match="Timeout"):
            slow.invoke({})
        # Lambda replaces a container that timed out: the next invocation is a cold start.
        status, _ = http_call(api.port, "GET", "/slow")
        assert status == 502 and slow.containers_started == 3
    finally:
        release(handler_file)
        api.stop()


def test_an_invocation_past_the_integration_limit_is_a_504(handler_file: Path) -> None:
    route = ApiRoute("Slow", "GET", "/slow", auth_required=False)
    patient = LocalFunction("patient", load_handler(handler_file), timeout_seconds=60)
    gateway = ApiGateway((route,), {"Slow": patient}, api_key="k", port=0, integration_timeout_seconds=0.2).start()
    try:
        status, answer = http_call(gateway.port, "GET", "/slow")
        assert (status, answer["error"]["code"]) == (504, "integration_timeout")
    finally:
        release(handler_file)
        gateway.stop()


def test_invocations_run_at_once_each_in_a_container_of_its_own(handler_file: Path) -> None:
    concurrency = 3
    function = LocalFunction(
        "parallel",
        load_handler(handler_file),
        timeout_seconds=60,
        concurrency=concurrency,
        new_container=lambda: load_handler(handler_file),
    )
    barrier = threading.Barrier(concurrency)  # passes only if all of them run at the same time
    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(lambda _: function.invoke({"barrier": barrier}), range(concurrency)))
    assert len({answer["body"] for answer in answers}) == concurrency, "one container per concurrent invocation"
    assert function.containers_started == concurrency
    # Sequential invocations reuse a warm container.
    function.invoke({"barrier": threading.Barrier(1)})
    assert function.containers_started == concurrency


def test_the_trigger_retries_an_invocation_that_ran_past_its_timeout(tmp_path: Path) -> None:
    broker = KafkaBroker.start(tmp_path)
    release = threading.Event()
    try:
        topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
        broker.create_topic(topic, 1)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for i in range(3):
            producer.send(topic, value=str(i).encode())
        producer.close()
        invocations: list[int] = []

        def updater_stuck_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
            invocations.append(len(invocations))
            if len(invocations) == 1:
                release.wait(60)  # past the Timeout: Lambda would stop it, the trigger retries
            return {"batchItemFailures": []}

        spec = KafkaTrigger(
            "Updater", "ScoreEvents", topic, 100, 0.0, group, 3, ("ReportBatchItemFailures",), "TRIM_HORIZON", None
        )
        updater = LocalFunction("updater", updater_stuck_once, timeout_seconds=0.5)
        trigger = MskTrigger(updater, spec, bootstrap=broker.bootstrap, initial_backoff_seconds=0.05).start()
        try:
            wait_for(lambda: trigger.counters.batches >= 2 and trigger.counters.failures == 1, what="a retry")
        finally:
            release.set()
            trigger.stop()
        assert trigger.counters.failures == 1
        assert trigger.counters.records >= 6, "the whole batch was delivered again"
    finally:
        broker.stop()


# -- The whole stack ----------------------------------------------------------------------


@pytest.fixture
def metered_stack(tmp_path: Path) -> Iterator[RunningStack]:
    """A stack on servers of its own (Kafka gets stopped), metrics on, a short Kafka wait."""
    running = start_stack(
        own_servers_environ(POWERTOOLS_METRICS_DISABLED="false", KAFKA_SEND_TIMEOUT_SECONDS="2"), tmp_path
    )
    try:
        yield running
    finally:
        running.stop()


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def test_the_stack_runs_each_function_at_its_template_concurrency(metered_stack: RunningStack, month: Month) -> None:
    for logical_id, function in metered_stack.functions.items():
        reserved = metered_stack.template.function(logical_id).reserved_concurrency
        assert function.concurrency == min(reserved or LOCAL_CONCURRENCY, LOCAL_CONCURRENCY)
        # Every function but the period closer, which the template runs one at a time, runs concurrently.
        assert function.concurrency > 1 or (logical_id, reserved) == ("PeriodCloserFunction", 1)
    api = Api(metered_stack.api_url, metered_stack.api_key)
    events: list[dict[str, Any]] = [
        {"match_id": f"m-{i}", "user_id": f"u-{i}", "occurred_at": month.at(i)} for i in range(12)
    ]
    with ThreadPoolExecutor(LOCAL_CONCURRENCY) as pool:
        answers = list(pool.map(lambda event: api.post("/v1/scores", event), events))
    for event, (status, answer) in zip(events, answers, strict=True):
        assert status == 202
        assert answer["event_id"] == event_id_for(event["match_id"], event["user_id"]), "each request its own body"


@contextmanager
def log_output(stack: RunningStack) -> Iterator[io.StringIO]:
    """What the functions' Powertools loggers write, while inside. (Their handlers keep the
    stdout of the moment they were created, which pytest's capture fixtures do not see.)"""
    services = {spec.environment["POWERTOOLS_SERVICE_NAME"] for spec in stack.template.functions.values()}
    handlers = [logging.getLogger(service).handlers[0] for service in services]
    assert all(isinstance(handler, logging.StreamHandler) for handler in handlers)
    output = io.StringIO()
    previous = [handler.setStream(output) for handler in handlers]  # type: ignore[attr-defined]
    try:
        yield output
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)  # type: ignore[attr-defined]


def test_logs_and_metrics_carry_the_function_that_wrote_them(
    metered_stack: RunningStack, month: Month, capsys: pytest.CaptureFixture[str]
) -> None:
    api = Api(metered_stack.api_url, metered_stack.api_key)
    ingest = metered_stack.functions["MatchIngestFunction"]
    broker = metered_stack.servers.kafka
    assert broker is not None
    with log_output(metered_stack) as logged:
        assert api.post("/v1/scores", {"match_id": "m-1", "user_id": "u-1", "occurred_at": month.at(1)})[0] == 202
        wait_for(lambda: metered_stack.trigger.counters.batches >= 1, what="the updater to apply the score")
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(1) as pool:
                post = pool.submit(
                    api.post, "/v1/scores", {"match_id": "m-2", "user_id": "u-1", "occurred_at": month.at(2)}
                )
                wait_for(lambda: ingest.in_flight == 1, what="the POST to wait for Kafka")
                # The query runs meanwhile: in one process, it used to relabel the ingest's log lines.
                assert api.get(f"/v1/leaderboards/monthly/top?period={month.period}")[0] == 200
                assert post.result(timeout=60)[0] == 503
        finally:
            os.kill(broker.pid, signal.SIGCONT)

    warnings = [line for line in json_lines(logged.getvalue()) if line.get("message") == "kafka unavailable"]
    assert len(warnings) == 1
    assert (warnings[0]["service"], warnings[0]["function_name"]) == ("match-ingest", "MatchIngestFunction")
    published = json_lines(capsys.readouterr().out)  # Powertools prints metrics to the current stdout
    for metric, logical_id in (("ScoresAccepted", "MatchIngestFunction"), ("RecordsApplied", "ScoreUpdaterFunction")):
        service = metered_stack.template.function(logical_id).environment["POWERTOOLS_SERVICE_NAME"]
        blobs = [line for line in published if "_aws" in line and metric in line]
        assert blobs, f"{metric} was published"
        assert {blob["service"] for blob in blobs} == {service}
