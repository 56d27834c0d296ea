"""The fault suite's stack: servers of its own, so a test can kill them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runtime.stack import RunningStack
from tests.support.faults import stack_of_its_own


@pytest.fixture
def fault_stack(tmp_path: Path) -> Iterator[RunningStack]:
    with stack_of_its_own(tmp_path) as running:
        yield running
