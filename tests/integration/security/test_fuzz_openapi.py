"""Fuzz the local stack from docs/openapi.json with schemathesis, bounded in examples and time.

Checks: no 5xx at all (Redis and Kafka are up, so even a 503 is a failure), and no request that
violates the document is accepted. Schema-valid requests may still be refused: some bounds
cannot be written in the document (printable characters only, occurred_at relative to now,
limits a deployment configures), so "valid data is accepted" is not checked.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from local_runtime.stack import RunningStack
from local_runtime.template import load_template
from tests.support.paths import REPO_ROOT

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]

schema = schemathesis.openapi.from_path(REPO_ROOT / "docs" / "openapi.json")
EXAMPLES_PER_OPERATION = 150
SECONDS_PER_OPERATION = 12.0
# Fewer requests than this for a documented operation means the time bound cut its fuzzing short.
MIN_REQUESTS_PER_OPERATION = 50
CHECKS = [
    not_a_server_error,
    negative_data_rejection,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
answered: Counter[str] = Counter()
started: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    """With -s: requests sent per operation and status, and how long each operation was fuzzed."""
    began = time.monotonic()
    yield
    print(f"\nfuzz: {sum(answered.values())} requests in {time.monotonic() - began:.1f} s (stack start included)")
    for line, count in sorted(answered.items()):
        print(f"fuzz:   {line}: {count}")
    sent = Counter({label: 0 for label in started if label in documented_operations()})
    for line, count in answered.items():
        label = line.rsplit(" -> ", 1)[0]
        if label in sent:
            sent[label] += count
    starved = {label: count for label, count in sent.items() if count < MIN_REQUESTS_PER_OPERATION}
    if starved:
        pytest.fail(
            f"fuzzing was cut short by its {SECONDS_PER_OPERATION:g} s bound: fewer than "
            f"{MIN_REQUESTS_PER_OPERATION} requests for {starved}"
        )


def documented_operations() -> set[str]:
    return {
        f"{result.ok().method.upper()} {result.ok().path}"
        for result in schema.get_all_operations()
        if isinstance(result, Ok)
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_survives_fuzzing(case: schemathesis.Case[Any], stack: RunningStack) -> None:
    label = f"{case.method} {case.path}"
    first = started.setdefault(label, time.monotonic())
    if time.monotonic() - first > SECONDS_PER_OPERATION:
        return  # the time bound: stop sending, keep what was checked
    key = stack.admin_api_key if case.path.startswith("/v1/admin/") else stack.api_key
    response = case.call_and_validate(base_url=stack.api_url, headers={"x-api-key": key}, checks=CHECKS, timeout=30)
    answered[f"{label} -> {response.status_code}"] += 1


def test_every_route_of_the_template_is_fuzzed() -> None:
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    fuzzed = {(operation.method.upper(), operation.path) for operation in operations}
    routes = {(route.method, route.path) for route in load_template(REPO_ROOT / "template.yaml").routes}
    assert fuzzed == routes
    assert ("GET", "/v1/leaderboards/{window}/periods") in fuzzed
