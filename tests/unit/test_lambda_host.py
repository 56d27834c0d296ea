"""The local Lambda host keeps what Lambda keeps apart apart, without servers: containers of one
function run at once, each with its own `shared` package and its own request."""

from __future__ import annotations

import copy
import json
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from local_runtime.lambda_host import LocalFunction, load_handler
from tests.support.paths import EVENTS_DIR

RESOLVER_HANDLER = """
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
import {gate}

app = APIGatewayRestResolver()

@app.get("/<name>")
def hello(name):
    {gate}.BARRIER.wait(timeout=30)  # both requests are inside their resolvers at once
    return {{"asked": name, "resolving": app.current_event.path}}

def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def request_for(path: str) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads((EVENTS_DIR / "get_top.json").read_text()))
    event.update(path=path, resource="/{name}", queryStringParameters=None, multiValueQueryStringParameters=None)
    event["requestContext"].update(path=path, resourcePath="/{name}")
    return event


def test_concurrent_containers_each_resolve_their_own_request(tmp_path: Path) -> None:
    gate = f"gate_{uuid.uuid4().hex}"
    (tmp_path / f"{gate}.py").write_text("import threading\nBARRIER = threading.Barrier(2)\n")
    handler_file = tmp_path / "app.py"
    handler_file.write_text(RESOLVER_HANDLER.format(gate=gate))
    function = LocalFunction(
        "resolver", load_handler(handler_file), concurrency=2, new_container=lambda: load_handler(handler_file)
    )
    try:
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda name: function.invoke(request_for(f"/{name}")), ("alice", "bob")))
    finally:
        sys.modules[gate].BARRIER.abort()
    bodies = [json.loads(answer["body"]) for answer in answers]
    assert bodies == [{"asked": "alice", "resolving": "/alice"}, {"asked": "bob", "resolving": "/bob"}]


def test_each_load_of_a_handler_has_its_own_shared_package(tmp_path: Path) -> None:
    handler_file = tmp_path / "app.py"
    handler_file.write_text(
        "import shared.adapters.settings as settings\ndef lambda_handler(event, context):\n    return settings\n"
    )
    first, second = load_handler(handler_file), load_handler(handler_file)
    assert first({}, None) is not second({}, None)
    import shared.adapters.settings

    assert first({}, None) is not shared.adapters.settings, "the caller's own copy is left alone"


def test_sequential_invocations_reuse_a_warm_container(tmp_path: Path) -> None:
    handler_file = tmp_path / "app.py"
    handler_file.write_text(
        "import uuid\nCONTAINER = uuid.uuid4().hex\ndef lambda_handler(e, c):\n    return CONTAINER\n"
    )
    function = LocalFunction(
        "warm", load_handler(handler_file), concurrency=4, new_container=lambda: load_handler(handler_file)
    )
    assert len({function.invoke({}) for _ in range(5)}) == 1
    assert function.containers_started == 1
