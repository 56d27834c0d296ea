"""The apply script folds a call's records per player before writing (each player's entry on the board
and in its hidden set read at most once, written at most once, not per record): whatever the
records, the board and its hidden set must end as applying them one by one does, which the
reference store (shared/application/reference_board.py) does.

Each example is one apply call of many records on few players: players already on the board, in
its hidden set, in both or in neither, some held at the largest total, points small or near it,
ticks in and out of order, and event ids repeated within the call (a retried POST). The records
carry the tags the updater sends (shared/application/moderation_apply.py): scores shown or hidden,
bans, unbans and resets, in any order, so the cap, the tick that moves only with the total,
duplicates and entries moving between the two sets all meet within one fold. Some calls are of
actions alone, to a board that may hold no one (then nothing may be written).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local_runtime.servers import LocalServers
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import hidden_scores_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import PendingScore
from shared.application.moderation_apply import BAN, HIDDEN_SCORE, RESET, SCORE, UNBAN
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Board, Window
from shared.domain.events import event_id_for

pytestmark = [pytest.mark.model, pytest.mark.moderation]

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


ACTIONS = (BAN, UNBAN, RESET)
# Scores shown most often, as in a real partition; every other tag often enough to meet the rest.
TAGS = (SCORE, SCORE, SCORE, HIDDEN_SCORE, BAN, UNBAN, RESET)


@st.composite
def entries(draw: st.DrawFn, board: Board) -> dict[str, int]:
    """Some players' entries in one of the board's sets (user -> encoded score)."""
    cap = board.codec.max_points
    return {
        user: board.codec.encode(draw(st.sampled_from([1, cap // 2, cap - 1, cap])), draw(st.integers(0, 6)))
        for user in draw(st.lists(st.sampled_from(PLAYERS), unique=True))
    }


@st.composite
def calls(draw: st.DrawFn, board: Board) -> tuple[dict[str, int], dict[str, int], list[PendingScore]]:
    """The board's entries and its hidden set's before the call, and the call's records."""
    shown, hidden = draw(entries(board)), draw(entries(board))
    tags = st.sampled_from(ACTIONS if draw(st.integers(0, 5)) == 0 else TAGS)
    records = []
    for offset in range(draw(st.integers(1, 40))):
        user = draw(st.sampled_from(PLAYERS))
        tag = draw(tags)
        # Few matches (and actions), so the same id comes again from another record of the call.
        if tag in ACTIONS:
            event_id, points, tick = event_id_for(f"action{draw(st.integers(0, 4))}", user), 0, 0
        else:
            event_id, points, tick = (
                event_id_for(f"m{draw(st.integers(0, 12))}", user),
                draw(points_for(board)),
                draw(st.integers(0, 6)),
            )
        records.append(PendingScore(offset, bytes.fromhex(event_id), user, points, tick, -1, tag))
    return shown, hidden, records


def read_set(client: RedisClient, key: str) -> dict[str, int]:
    members: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return {member.decode(): int(score) for member, score in members}


@pytest.mark.parametrize("board", [DAILY, ALLTIME], ids=["seconds codec", "minutes codec"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_call_ends_as_applying_its_records_one_by_one(
    client: RedisClient, board: Board, data: st.DataObject
) -> None:
    shown, hidden, records = data.draw(calls(board))
    client.flushdb()  # only ever FOLD_DB of the tests' own redis-server
    if shown:
        client.zadd(board.key, dict(shown))  # type: ignore[arg-type]
    if hidden:
        client.zadd(hidden_scores_key(board), dict(hidden))  # type: ignore[arg-type]
    reference = ReferenceBoards()
    reference.of(board).scores.update(shown)
    reference.of(board).hidden.update(hidden)

    result = RedisBoardWriter(client).apply(board, PARTITION, records)
    expected = reference.apply(board, PARTITION, records)

    assert read_set(client, board.key) == reference.of(board).scores
    assert read_set(client, hidden_scores_key(board)) == reference.of(board).hidden
    assert (result.applied, result.duplicates, result.capped, result.redelivered) == (
        expected.applied,
        expected.duplicates,
        expected.capped,
        expected.redelivered,
    )
    if not shown and not hidden and all(record.tag in ACTIONS for record in records):
        assert client.dbsize() == 0, "actions alone to a board that holds no one write nothing"


def command_calls(client: RedisClient) -> dict[str, int]:
    stats: dict[str, dict[str, int]] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


def test_a_call_reads_and_writes_each_players_entries_once_whatever_its_tags(client: RedisClient) -> None:
    """What the fold is for: per player and set, one ZSCORE at most and one write at most in the call,
    however many of the player's records it holds; per record, only the ZADD NX of its id."""
    client.flushdb()  # only ever FOLD_DB of the tests' own redis-server
    client.zadd(DAILY.key, {user: DAILY.codec.encode(10, 1) for user in PLAYERS})
    client.zadd(hidden_scores_key(DAILY), {"bob": DAILY.codec.encode(4, 2)})
    cycle = (SCORE, HIDDEN_SCORE, BAN, SCORE, UNBAN, HIDDEN_SCORE, SCORE, RESET, SCORE)
    records = [
        PendingScore(offset, bytes.fromhex(event_id_for(f"m{offset}", user)), user, 1, 3, -1, tag)
        for offset, (user, tag) in enumerate((user, tag) for tag in cycle for user in PLAYERS)
    ]
    before = command_calls(client)
    RedisBoardWriter(client).apply(DAILY, PARTITION, records)
    after = command_calls(client)
    calls = {name: after.get(name, 0) - before.get(name, 0) for name in ("zscore", "zadd", "zrem")}
    sets = 2
    assert calls["zscore"] <= sets * len(PLAYERS)
    assert calls["zadd"] <= len(records) + sets  # each id's ZADD NX, then one ZADD per set
    assert calls["zrem"] <= sets
