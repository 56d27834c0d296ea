"""Load Lambda handlers from their files and run them as Lambda would: a context object, the
function's Timeout, and several containers of one function at once.

All functions share this one process, where Lambda gives each container a process of its own.
What would leak between them is kept apart: every container imports its own copy of the
`shared` package (module-level clients and Powertools child loggers belong to one function),
and Powertools' event handler keeps the request it is resolving per thread instead of in a
class attribute. Still shared: the Python logging registry, so containers of the same function
log through one formatter and, under concurrency, a log line may carry the request id of
another invocation of that function (never another function's name).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import sys
import threading
import time
import uuid
from abc import ABCMeta
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

Handler = Callable[[dict[str, Any], Any], Any]

_module_counter = itertools.count(1)
# Imports change sys.modules and handlers read os.environ while they import: one load at a time.
_load_lock = threading.RLock()
PRIVATE_PACKAGES = ("shared",)


def load_handler(
    handler_file: Path,
    function_name: str = "lambda_handler",
    *,
    repo_root: Path | None = None,
    environment: Mapping[str, str] | None = None,
) -> Handler:
    """Import `handler_file` as a module of its own and return its handler function.

    All three handlers are called app.py, so each load gets a unique module name (a second load
    runs the module again, with fresh module-scope clients) and its own copy of the `shared`
    package, as a second Lambda container would have. `repo_root` goes first on sys.path, where
    Lambda would find the layer holding `shared`; the file's own directory goes last, as Lambda's
    task root, so modules next to the handler also import. `environment` is set in os.environ
    while the module runs (module-scope settings read the function's own environment).
    """
    handler_file = Path(handler_file).resolve()
    if not handler_file.is_file():
        raise FileNotFoundError(f"no handler file {handler_file}")
    with _load_lock, environment_overlay(environment or {}), _private_copies(PRIVATE_PACKAGES):
        return _import_handler(handler_file, function_name, repo_root)


def _import_handler(handler_file: Path, function_name: str, repo_root: Path | None) -> Handler:
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
def _private_copies(packages: tuple[str, ...]) -> Iterator[None]:
    """Modules of `packages` imported inside are fresh copies, kept only by what imported them;
    the copies sys.modules held before are put back afterwards."""

    def owned() -> list[str]:
        return [name for name in sys.modules if name.partition(".")[0] in packages]

    saved = {name: sys.modules.pop(name) for name in owned()}
    try:
        yield
    finally:
        for name in owned():
            del sys.modules[name]
        sys.modules.update(saved)


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


class InvocationTimedOut(RuntimeError):
    """The handler did not answer in time: past the function's Timeout, or past the caller's own limit."""

    def __init__(self, function_name: str, seconds: float, *, by_caller: bool) -> None:
        limit = "the caller's limit" if by_caller else "the function's Timeout"
        super().__init__(f"{function_name} did not answer within {seconds:g} s ({limit})")
        self.by_caller = by_caller


@dataclass
class _Container:
    handler: Handler
    retired: bool = False  # timed out: Lambda would have replaced it


@dataclass
class _Outcome:
    finished: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class LocalFunction:
    """A function as Lambda runs it: up to `concurrency` invocations at once, each in a container
    of its own that handles one invocation at a time, each stopped waiting for at its Timeout.

    `handler` is the first container. Others come from `new_container` when every container is
    busy, like a cold start; without `new_container`, concurrent invocations share `handler`.
    An invocation past `timeout_seconds` raises InvocationTimedOut. A thread cannot be killed, so
    the handler runs on in the background; its container is retired and never invoked again.
    More than `concurrency` callers wait for a free slot.
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
        new_container: Callable[[], Handler] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.function_name = function_name
        self.memory_mb = memory_mb
        self.timeout_seconds = timeout_seconds
        self.region = region
        self.concurrency = concurrency
        self._new_container = new_container
        self._first = _Container(handler)
        self._idle = [self._first]
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._in_flight = 0
        self.containers_started = 1

    @property
    def handler(self) -> Handler:
        return self._first.handler

    @handler.setter
    def handler(self, handler: Handler) -> None:
        self._first.handler = handler

    @property
    def in_flight(self) -> int:
        """Invocations running now (timed-out ones no longer count)."""
        with self._lock:
            return self._in_flight

    def invoke(self, event: dict[str, Any], *, caller_limit_seconds: float | None = None) -> Any:
        """Run one invocation; InvocationTimedOut past the Timeout or past `caller_limit_seconds`,
        which also bounds the wait for a free slot (API Gateway's integration limit, say)."""
        started = time.monotonic()
        if not self._slots.acquire(timeout=caller_limit_seconds):
            raise InvocationTimedOut(self.function_name, caller_limit_seconds or 0.0, by_caller=True)
        try:
            container = self._take_container()
            try:
                return self._run(container, event, started, caller_limit_seconds)
            finally:
                self._give_back(container)
        finally:
            self._slots.release()

    def _take_container(self) -> _Container:
        with self._lock:
            self._in_flight += 1
            if self._idle:
                return self._idle.pop()
            if self._new_container is None:
                return self._first  # one handler for every concurrent invocation
        try:
            container = _Container(self._new_container())
        except BaseException:
            with self._lock:
                self._in_flight -= 1
            raise
        with self._lock:
            self.containers_started += 1
        return container

    def _give_back(self, container: _Container) -> None:
        with self._lock:
            self._in_flight -= 1
            reusable = not container.retired or self._new_container is None
            if reusable and container not in self._idle:
                self._idle.append(container)

    def _run(
        self, container: _Container, event: dict[str, Any], started: float, caller_limit_seconds: float | None
    ) -> Any:
        context = LambdaContext(
            self.function_name, self.memory_mb, timeout_seconds=self.timeout_seconds, region=self.region
        )
        outcome = _Outcome()

        def run() -> None:
            try:
                outcome.result = container.handler(event, context)
            except BaseException as error:
                outcome.error = error
            finally:
                outcome.finished.set()

        wait, by_caller, limit = self.timeout_seconds, False, self.timeout_seconds
        if caller_limit_seconds is not None:
            caller_wait = caller_limit_seconds - (time.monotonic() - started)
            if caller_wait < self.timeout_seconds:
                wait, by_caller, limit = caller_wait, True, caller_limit_seconds
        threading.Thread(target=run, name=f"{self.function_name}-{context.aws_request_id[:8]}", daemon=True).start()
        if not outcome.finished.wait(max(0.0, wait)):
            container.retired = True
            raise InvocationTimedOut(self.function_name, limit, by_caller=by_caller)
        if outcome.error is not None:
            raise outcome.error
        return outcome.result


class _PerThread:
    """A class attribute whose value belongs to the thread that set it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._values = threading.local()

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        try:
            return self._values.value
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, instance: object, value: Any) -> None:
        self._values.value = value


class _RouterMeta(ABCMeta):
    """Lets `BaseRouter.current_event = ...` reach the per-thread attribute instead of replacing it."""

    def __setattr__(cls, name: str, value: Any) -> None:
        attribute = cls.__dict__.get(name)
        if isinstance(attribute, _PerThread):
            attribute.__set__(None, value)
        else:
            super().__setattr__(name, value)


def _keep_powertools_requests_per_thread() -> None:
    """Powertools' REST resolver stores the request being resolved in class attributes of
    BaseRouter, shared by every resolver of the process. In Lambda a process resolves one request
    at a time; here several containers do at once, so each thread gets its own."""
    if isinstance(BaseRouter, _RouterMeta):
        return
    for name in ("current_event", "lambda_context"):
        type.__setattr__(BaseRouter, name, _PerThread(name))
    setattr(BaseRouter, "__class__", _RouterMeta)  # noqa: B010 (mypy refuses the plain assignment)


_keep_powertools_requests_per_thread()
