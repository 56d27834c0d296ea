"""The port contracts (tests/support/port_contracts.py) on the stand-ins the unit tier uses; the same
contracts run on the real adapters in tests/integration/test_port_contracts.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Board
from tests.support.ingest_ports import MemoryLedger
from tests.support.port_contracts import (
    BoardReaderContract,
    BoardWriterContract,
    DeadLetterContract,
    Held,
    LedgerContract,
)
from tests.support.updater_fakes import InMemoryBoards, RecordingDeadLetters


class TestMemoryLedger(LedgerContract):
    @pytest.fixture
    def ledger(self) -> MemoryLedger:
        return MemoryLedger()

    @pytest.fixture
    def unreachable_ledger(self) -> MemoryLedger:
        return MemoryLedger(down=True, confirm_fails=True)


class TestRecordingDeadLetters(DeadLetterContract):
    @pytest.fixture
    def sink(self) -> RecordingDeadLetters:
        return RecordingDeadLetters()

    @pytest.fixture
    def delivered(self, sink: RecordingDeadLetters) -> Callable[[], list[str]]:
        return lambda: [letter.body() for letter in sink.letters]

    @pytest.fixture
    def refusing_sink(self) -> RecordingDeadLetters:
        return RecordingDeadLetters(refuse=True)


class TestInMemoryBoards(BoardWriterContract):
    @pytest.fixture
    def writer(self) -> InMemoryBoards:
        return InMemoryBoards()

    @pytest.fixture
    def held_on(self, writer: InMemoryBoards) -> Held:
        def held(board: Board) -> dict[str, tuple[int, int]]:
            points, ticks = writer.points.get(board, {}), writer.ticks.get(board, {})
            return {user: (points[user], ticks[user]) for user in points}

        return held


class TestReferenceBoards(BoardWriterContract, BoardReaderContract):
    @pytest.fixture
    def writer(self) -> ReferenceBoards:
        return ReferenceBoards()

    @pytest.fixture
    def reader(self, writer: ReferenceBoards) -> ReferenceBoards:
        return writer

    @pytest.fixture
    def held_on(self, writer: ReferenceBoards) -> Held:
        def held(board: Board) -> dict[str, tuple[int, int]]:
            decoded = {user: board.codec.decode(score) for user, score in writer.of(board).scores.items()}
            return {user: (score.points, score.ticks) for user, score in decoded.items()}

        return held
