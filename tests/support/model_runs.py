"""What the hypothesis model tests of the Redis scripts share: a redis-server of their own, reproducible
runs, and the counts that show which cases the examples went through."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from local_runtime.servers import RedisServer
from shared.adapters.redis_client import RedisClient, create_redis_client


def model_phases(shrink_variable: str) -> tuple[Phase, ...]:
    """Explicit and generated examples; shrinking a failure too when `shrink_variable` is "1" (it re-runs
    every check after every step, for minutes)."""
    shrink = (Phase.shrink,) if os.environ.get(shrink_variable) == "1" else ()
    return (Phase.explicit, Phase.generate, *shrink)


def run_model(
    machine: Callable[[], RuleBasedStateMachine], *, examples: int, steps: int, phases: tuple[Phase, ...]
) -> None:
    """Run the state machine the same way on every run: derandomized, no example database."""
    run_state_machine_as_test(
        machine,  # type: ignore[arg-type]  # hypothesis takes any factory
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            derandomize=True,
            database=None,
            phases=phases,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@contextmanager
def own_redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer.start(workdir)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def flushed_client(server: RedisServer, db: int) -> Iterator[RedisClient]:
    """A client of one database of `server`, emptied when done."""
    client = create_redis_client(server.url, db=db)
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


class ExercisedCounts:
    """Base of a dataclass of counters, summed over a run: proof the strategies reach each case."""

    def __str__(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in vars(self).items())

    def never_reached(self, *rare: str) -> list[str]:
        """The counters still at zero, but for the `rare` ones."""
        return [name for name, value in vars(self).items() if value == 0 and name not in rare]
