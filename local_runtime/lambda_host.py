"""Load Lambda handlers from their files and give them a Lambda-like context object."""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]

_module_counter = itertools.count(1)


def load_handler(
    handler_file: Path, function_name: str = "lambda_handler", *, repo_root: Path | None = None
) -> Handler:
    """Import `handler_file` as a module of its own and return its handler function.

    All three handlers are called app.py, so each load gets a unique module name (a second load
    runs the module again, with fresh module-scope clients). `repo_root` goes first on sys.path,
    where Lambda would find the layer holding `shared`; the file's own directory goes last, as
    Lambda's task root, so modules next to the handler also import.
    """
    handler_file = Path(handler_file).resolve()
    if not handler_file.is_file():
        raise FileNotFoundError(f"no handler file {handler_file}")
    if repo_root is not None and str(Path(repo_root).resolve()) not in sys.path:
        sys.path.insert(0, str(Path(repo_root).resolve()))
    if str(handler_file.parent) not in sys.path:
        sys.path.append(str(handler_file.parent))

    slug = re.sub(r"\W", "_", handler_file.parent.name)
    module_name = f"local_lambda_{slug}_{handler_file.stem}_{next(_module_counter)}"
    spec = importlib.util.spec_from_file_location(module_name, handler_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {handler_file}")
    module = importlib.util.module_from_spec(spec)
    # Registered before running it, as a normal import would (dataclasses and pickling look it up).
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    handler = getattr(module, function_name, None)
    if not callable(handler):
        raise AttributeError(f"{handler_file} has no callable {function_name!r}")
    return handler  # type: ignore[no-any-return]


@contextmanager
def environment_overlay(values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` in os.environ for the duration, then put back what was there.

    For a handler's import: module-scope settings read the function's own environment. Overlays
    nest; they are not meant to be used from several threads at once.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 3.0
    region: str = "us-east-1"
    account_id: str = "123456789012"
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[{self.function_version}]{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """A loaded handler plus what Lambda knows about it; `invoke` builds a fresh context each call.

    `concurrency` bounds simultaneous invocations of this function. The default, 1, is one warm
    container: module-scope state (Powertools Metrics, for one) is not shared between threads.
    """

    def __init__(
        self,
        function_name: str,
        handler: Handler,
        *,
        memory_mb: int = 128,
        timeout_seconds: float = 3.0,
        region: str = "us-east-1",
        concurrency: int = 1,
    ) -> None:
        self.function_name = function_name
        self.handler = handler
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        self.region = region
        self._slots = threading.BoundedSemaphore(concurrency)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._slots:
            context = LambdaContext(
                self.function_name, self.memory_mb, timeout_seconds=self.timeout_seconds, region=self.region
            )
            return self.handler(event, context)
