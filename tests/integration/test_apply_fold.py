"""The apply script folds a call's records per player before writing (one ZSCORE and at most one write
per player, not per record): whatever the records, the board must end as applying them one by one
by ScoreCodec.add does, which the reference store (shared/application/reference_board.py) does.

Each example is one apply call of many records on few players: players already on the board or
not, some held at the largest total, points small or near it, ticks in and out of order, and event
ids repeated within the call (a retried POST), so the cap, the tick that moves only with the total,
and duplicates all meet within one fold.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_runtime.servers import LocalServers
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import PendingScore
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Board, Window
from shared.domain.events import event_id_for

pytestmark = pytest.mark.model

FOLD_DB = 13  # a logical database of its own, flushed before each example
PARTITION = "fold/score-events-0"
PLAYERS = ("ann", "bob", "Zoë")
DAILY = Window.DAILY.parse_period("2019-05-17")
ALLTIME = Window.ALLTIME.parse_period("all")


@pytest.fixture(scope="module")
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url.rsplit("/", 1)[0] + f"/{FOLD_DB}")
    yield redis_client
    redis_client.close()


def points_for(board: Board) -> st.SearchStrategy[int]:
    cap = board.codec.max_points
    return st.one_of(st.integers(1, 5), st.sampled_from([cap // 2, cap - 1, cap]))


@st.composite
def calls(draw: st.DrawFn, board: Board) -> tuple[dict[str, int], list[PendingScore]]:
    """The board's players before the call (user -> encoded score), and the call's records."""
    cap = board.codec.max_points
    before = {
        user: board.codec.encode(draw(st.sampled_from([1, cap // 2, cap - 1, cap])), draw(st.integers(0, 6)))
        for user in draw(st.lists(st.sampled_from(PLAYERS), unique=True))
    }
    records = []
    for offset in range(draw(st.integers(1, 40))):
        user = draw(st.sampled_from(PLAYERS))
        # Few matches, so the same event comes again from another record of the call.
        match = f"m{draw(st.integers(0, 12))}"
        records.append(
            PendingScore(
                offset,
                bytes.fromhex(event_id_for(match, user)),
                user,
                draw(points_for(board)),
                draw(st.integers(0, 6)),
                -1,
            )
        )
    return before, records


@pytest.mark.parametrize("board", [DAILY, ALLTIME], ids=["seconds codec", "minutes codec"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_call_ends_as_applying_its_records_one_by_one(
    client: RedisClient, board: Board, data: st.DataObject
) -> None:
    before, records = data.draw(calls(board))
    client.flushdb()  # only ever FOLD_DB of the tests' own redis-server
    if before:
        client.zadd(board.key, dict(before))  # type: ignore[arg-type]
    reference = ReferenceBoards()
    reference.of(board).scores.update(before)

    result = RedisBoardWriter(client).apply(board, PARTITION, records)
    expected = reference.apply(board, PARTITION, records)

    members: list[tuple[bytes, float]] = client.zrange(board.key, 0, -1, withscores=True)  # type: ignore[assignment]
    on_redis = {member.decode(): int(score) for member, score in members}
    assert on_redis == reference.of(board).scores
    assert (result.applied, result.duplicates, result.capped) == (
        expected.applied,
        expected.duplicates,
        expected.capped,
    )
