"""python -m local_runtime run | demo | invoke: the leaderboard on this machine.

Environment: API_PORT (default 3000), INGEST_API_KEY (default local-dev-key: the x-api-key the
write routes require), ADMIN_API_KEY (default local-admin-key: the x-api-key of the admin routes),
and REDIS_URL / KAFKA_BOOTSTRAP_SERVERS / AWS_ENDPOINT_URL to use existing
servers instead of starting redis-server, Tansu and moto.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from local_runtime.api_gateway import ApiPortInUse, ensure_port_free
from local_runtime.demo import (
    MAX_DURATION_SECONDS,
    MAX_PLAYERS,
    MAX_RATE,
    QUIT_KEY,
    DemoModeration,
    KeyPresses,
    TrafficSimulator,
    admin_caller,
    fetch_top,
    redraw,
    render,
    switch_window,
)
from local_runtime.invoke import InvokeError, invoke, load_event
from local_runtime.processes import ServerStartError
from local_runtime.running_stack import StackEndpoints, publish, servers_line, withdraw
from local_runtime.stack import (
    DEFAULT_ADMIN_API_KEY,
    DEFAULT_API_KEY,
    DEFAULT_API_PORT,
    REPO_ROOT,
    LocalStack,
    RunningStack,
)
from local_runtime.template import TemplateError
from shared.domain.boards import Window

DEFAULT_WORKDIR = REPO_ROOT / ".run" / "local"

logger = logging.getLogger("local_runtime")


# The period closer's schedule under `make run` (the template's is 15 minutes): a daily board closes
# by itself within a minute of its grace on a machine left running.
CLOSE_PERIODS_EVERY_SECONDS = 60.0


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {low}..{high}")
        return value

    return parse


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_runtime", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start everything and serve until Ctrl-C")
    demo = commands.add_parser("demo", help="run, plus simulated traffic and a live top 10")
    for command in (run, demo):
        command.add_argument(
            "--port", type=_bounded(0, 65535), default=int(os.environ.get("API_PORT", DEFAULT_API_PORT))
        )
        command.add_argument("--template", type=Path, default=REPO_ROOT / "template.yaml")
        command.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="server logs and data")
        command.add_argument("-v", "--verbose", action="count", default=0, help="-v: info, -vv: debug")
    invoke_one = commands.add_parser(
        "invoke",
        help="run one function on one event, like `sam local invoke` without Docker",
        description="Prints the handler's answer as JSON on stdout; its logs go to stderr. Uses the servers "
        "of a running `make run`, else starts its own and stops them afterwards.",
    )
    invoke_one.add_argument("function_id", metavar="FunctionLogicalId", help="e.g. MatchIngestFunction")
    invoke_one.add_argument(
        "-e", "--event", required=True, help="event JSON file (e.g. events/post_score.json), - for stdin"
    )
    invoke_one.add_argument(
        "-n", "--env-vars", type=Path, help='SAM\'s format: {"Parameters": {...}, "<FunctionLogicalId>": {...}}'
    )
    invoke_one.add_argument("-t", "--template", type=Path, default=REPO_ROOT / "template.yaml")
    invoke_one.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="the work dir of the `make run` whose servers to use"
    )
    invoke_one.add_argument("-v", "--verbose", action="count", default=0, help="-v: info, -vv: debug")
    demo.add_argument("--rate", type=_bounded(1, MAX_RATE), default=200, help="events per second")
    demo.add_argument("--players", type=_bounded(1, MAX_PLAYERS), default=1000)
    demo.add_argument("--duration", type=_bounded(1, MAX_DURATION_SECONDS), default=60, help="seconds")
    demo.add_argument(
        "--window", type=Window, choices=list(Window), default=Window.MONTHLY, help="the board shown first"
    )
    return parser.parse_args(argv)


def _configure_logging(verbosity: int) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every lost connection as an error (also at shutdown); the handlers
    # already turn a broker outage into 503s and the trigger into warnings.
    kafka_level = {0: logging.CRITICAL, 1: logging.WARNING}.get(verbosity, logging.DEBUG)
    logging.getLogger("kafka").setLevel(kafka_level)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    return stop


def _demo(stack: RunningStack, stop: threading.Event, args: argparse.Namespace) -> None:
    traffic = TrafficSimulator(
        stack.api_url, stack.api_key, rate=args.rate, players=args.players, duration=args.duration
    ).start()
    started = time.monotonic()
    settle_until: float | None = None  # after the traffic ends, let the updater catch up a little
    window: Window = args.window
    moderation = DemoModeration(admin_caller(stack.api_url, stack.admin_api_key), args.duration)
    try:
        with KeyPresses(sys.stdin) as keys:
            while not stop.is_set():
                try:
                    top = fetch_top(stack.api_url, window)
                except (OSError, ValueError) as failure:
                    top = {"entries": [], "period": f"(unavailable: {failure})"}
                elapsed = min(time.monotonic() - started, args.duration)
                moderation.step(elapsed, top)
                redraw(
                    render(
                        top, window, traffic.stats, stack.trigger.counters, elapsed, args.duration, moderation.events
                    )
                )
                if traffic.finished:
                    settle_until = settle_until or time.monotonic() + 3.0
                    caught_up = stack.trigger.counters.records >= traffic.stats.accepted
                    if caught_up or time.monotonic() > settle_until:
                        break
                key = keys.wait(1.0, stop)
                if key == QUIT_KEY:
                    break
                window = switch_window(window, key)
    finally:
        traffic.stop()


def _serve(args: argparse.Namespace) -> int:
    stop = _stop_on_signals()
    try:
        ensure_port_free(args.port)
        stack = LocalStack(
            template_path=args.template,
            workdir=args.workdir,
            api_port=args.port,
            quiet=args.verbose == 0,
            close_periods_every_seconds=CLOSE_PERIODS_EVERY_SECONDS,
        ).start()
    except ApiPortInUse as taken:
        print(f"local_runtime: {taken}", file=sys.stderr)
        return 1
    state_file = publish(
        args.workdir,
        StackEndpoints(os.getpid(), stack.api_url, stack.redis_url, stack.kafka_bootstrap, stack.aws_endpoint_url),
    )
    try:
        # The built-in key is public anyway; a key the user chose is a secret and is not echoed.
        shown = stack.api_key if stack.api_key == DEFAULT_API_KEY else "the value of INGEST_API_KEY"
        print(f"leaderboard ready: {stack.api_url}  (x-api-key: {shown})", flush=True)
        admin_shown = (
            stack.admin_api_key if stack.admin_api_key == DEFAULT_ADMIN_API_KEY else "the value of ADMIN_API_KEY"
        )
        print(f"admin routes /v1/admin/...: x-api-key: {admin_shown}", flush=True)
        print(f"live push (WebSocket): {stack.live_url}", flush=True)
        print(servers_line(stack), flush=True)
        print(f"the page: {stack.api_url}/", flush=True)
        if args.command == "demo":
            _demo(stack, stop, args)
        else:
            stop.wait()
    finally:
        logger.info("stopping")
        withdraw(state_file)
        stack.stop()
    return 0


def _invoke(args: argparse.Namespace) -> int:
    try:
        answer = invoke(
            args.function_id,
            load_event(args.event),
            template_path=args.template,
            stack_workdir=args.workdir,
            env_vars_path=args.env_vars,
            quiet=args.verbose == 0,
        )
    except (InvokeError, TemplateError, ServerStartError) as problem:
        print(f"invoke: {problem}", file=sys.stderr)
        return 2
    except Exception as failure:  # the handler raised: reported as Lambda reports it
        logger.exception("the handler raised")
        print(json.dumps({"errorType": type(failure).__name__, "errorMessage": str(failure)}), flush=True)
        return 1
    print(json.dumps(answer), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    _configure_logging(args.verbose)
    if args.command == "invoke":
        return _invoke(args)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
