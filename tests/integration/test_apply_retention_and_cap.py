"""The apply script on a real redis-server: a closed board and its watermarks expire together at the
end of its retention, a record for an expired board writes nothing, and a player held at the cap
keeps the instant they reached it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import PendingScore
from shared.domain.boards import DAY_MS, MAX_GRACE_MS, Board, BoardSchedule, Window
from shared.domain.events import event_id_for
from tests.support.past_months import Month

pytestmark = pytest.mark.integration

PARTITION = "local/cluster-a/score-events-0"
CAP = Window.MONTHLY.codec.max_points


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url)
    yield redis_client
    redis_client.close()


def pending(offset: int, user: str, points: int, tick: int = 0) -> PendingScore:
    event_id = bytes.fromhex(event_id_for(f"m-{offset}", user))
    return PendingScore(offset, event_id, user, points, tick, time.time_ns() // 1_000_000)


def keys_of(board: Board) -> tuple[str, str, str]:
    return board.key, applied_offsets_key(board), applied_events_key(board, PARTITION)


def expire_times(client: RedisClient, board: Board) -> list[int]:
    return [int(client.pexpiretime(key)) for key in keys_of(board)[:2]]


def test_a_board_and_its_watermarks_expire_together_at_the_end_of_its_retention(
    client: RedisClient, month: Month
) -> None:
    day = Window.DAILY.board_at(month.at(3 * 86_400))
    schedule = BoardSchedule(tuple(Window), grace_ms={Window.DAILY: MAX_GRACE_MS})
    expires = schedule.expires_at_ms(day)
    assert expires == day.start_ms + DAY_MS + MAX_GRACE_MS + 14 * DAY_MS

    result = RedisBoardWriter(client).apply(day, PARTITION, [pending(0, "ann", 3)], expires_at_ms=expires)

    assert result.applied == 1
    assert expire_times(client, day) == [expires, expires]
    assert int(client.pttl(applied_events_key(day, PARTITION))) > 0, "the event ids keep their own, shorter expiry"


def test_a_board_whose_retention_is_0_is_kept_even_if_it_had_an_expiry(client: RedisClient, month: Month) -> None:
    day = Window.DAILY.board_at(month.at(5 * 86_400))
    store = RedisBoardWriter(client)
    store.apply(day, PARTITION, [pending(0, "ann", 3)], expires_at_ms=time.time_ns() // 1_000_000 + DAY_MS)
    assert all(instant > 0 for instant in expire_times(client, day))

    assert store.apply(day, PARTITION, [pending(1, "bob", 2)], expires_at_ms=None).applied == 1

    assert expire_times(client, day) == [-1, -1], "-1: the key exists and has no expiry"
    assert client.zcard(day.key) == 2


def test_a_record_for_a_board_past_its_retention_writes_nothing(client: RedisClient, month: Month) -> None:
    day = Window.DAILY.board_at(month.at(7 * 86_400))
    ended = time.time_ns() // 1_000_000 - 1

    result = RedisBoardWriter(client).apply(
        day, PARTITION, [pending(4, "ann", 3), pending(5, "bob", 1)], expires_at_ms=ended
    )

    assert (result.applied, result.past_retention, result.skipped) == (0, (4, 5), 2)
    assert [client.exists(key) for key in keys_of(day)] == [0, 0, 0], "no partial board, watermark or memory"


def test_a_player_held_at_the_cap_keeps_the_instant_they_reached_it(client: RedisClient, month: Month) -> None:
    board = Window.MONTHLY.parse_period(month.period)
    store = RedisBoardWriter(client)
    minute = 60
    first = store.apply(
        board,
        PARTITION,
        [
            pending(0, "a", CAP - 100, tick=1 * minute),
            pending(1, "b", CAP - 50, tick=2 * minute),
            pending(2, "a", 500, tick=10 * minute),  # a reaches the cap at minute 10, 400 points over it
            pending(3, "b", 50, tick=15 * minute),  # b reaches it exactly at minute 15
            pending(4, "c", 10, tick=3 * minute),
        ],
    )
    later = store.apply(
        board,
        PARTITION,
        [
            pending(5, "a", 7, tick=20 * minute),  # a scores again at minute 20: nothing changes
            pending(6, "c", 0, tick=25 * minute),  # no points: c's total, and so its instant, stay
        ],
    )

    assert (first.applied, first.capped, later.applied, later.capped) == (5, 1, 2, 1)
    assert client.zrevrange(board.key, 0, -1) == [b"a", b"b", b"c"], "a got there first"
    scores = {player: int(client.zscore(board.key, player) or -1) for player in ("a", "b", "c")}
    assert scores == {
        "a": board.codec.encode(CAP, 10 * minute),
        "b": board.codec.encode(CAP, 15 * minute),
        "c": board.codec.encode(10, 3 * minute),
    }
