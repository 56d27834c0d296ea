"""The apply script on a real redis-server: redeliveries, retried events, restarted offsets, forgetting,
and each window's codec: its tick and the largest total it holds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import ApplyResult, PendingScore
from shared.domain.boards import Board, Window
from shared.domain.errors import StoreUnavailable
from shared.domain.events import event_id_for
from tests.support.direct_reads import board_points
from tests.support.past_months import Month

PARTITION = "local/cluster-a/score-events-0"
UNSCOPED = "score-events-0"
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url)
    yield redis_client
    redis_client.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def pending(
    offset: int, match: str, user: str, points: int = 1, *, produced_at: int | None = None, tick: int = 0
) -> PendingScore:
    stamp = now_ms() if produced_at is None else produced_at
    return PendingScore(offset, bytes.fromhex(event_id_for(match, user)), user, points, tick, stamp)


def monthly(month: Month) -> Board:
    return Window.MONTHLY.parse_period(month.period)


def watermark(client: RedisClient, month: Month, field: str = PARTITION) -> int | None:
    raw = client.hget(applied_offsets_key(monthly(month)), field)
    return None if raw is None else int(raw)


def counts(result: ApplyResult) -> dict[str, int]:
    return {
        "applied": result.applied,
        "resets": result.resets,
        "redelivered": len(result.redelivered),
        "duplicates": len(result.duplicates),
        "unverified": len(result.unverified),
    }


def test_a_redelivered_record_and_a_retried_event_both_count_once(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    first = store.apply(monthly(month), PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (first.applied, first.skipped) == (2, 0)

    redelivery = store.apply(monthly(month), PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (redelivery.applied, redelivery.redelivered) == (0, (10, 11))

    # The same event produced again after an ambiguous 503: a new record at a new offset.
    retried = store.apply(monthly(month), PARTITION, [pending(12, "m1", "ann", 3), pending(13, "m3", "ann", 1)])
    assert (retried.applied, retried.duplicates) == (1, (12,))
    assert board_points(servers.redis_url, month.period) == {"ann": 4, "bob": 2}


def test_a_retry_counts_once_however_late_the_updater_applies_it(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    """The window is in record time: a stalled updater catching up hours later still knows the first copy."""
    store = RedisBoardWriter(client, remember_events_seconds=3600)
    start = now_ms() - 6 * HOUR_MS
    store.apply(monthly(month), PARTITION, [pending(0, "m1", "ann", 5, produced_at=start)])
    store.apply(monthly(month), PARTITION, [pending(1, "m2", "bob", produced_at=start + 30 * MINUTE_MS)])
    late_copy = store.apply(monthly(month), PARTITION, [pending(2, "m1", "ann", 5, produced_at=start + 55 * MINUTE_MS)])
    assert late_copy.duplicates == (2,)

    # Records more than the window (plus the clock margin) newer push the first copy out.
    store.apply(monthly(month), PARTITION, [pending(3, "m3", "bob", produced_at=start + 2 * HOUR_MS)])
    outside = store.apply(monthly(month), PARTITION, [pending(4, "m1", "ann", 5, produced_at=start + 2 * HOUR_MS)])
    assert (outside.applied, outside.duplicates) == (1, ()), "outside the window the same event counts again"
    assert client.zcard(applied_events_key(monthly(month), PARTITION)) == 2, "ids older than the window are trimmed"
    assert board_points(servers.redis_url, month.period) == {"ann": 10, "bob": 2}


def test_offsets_that_restart_are_detected_and_the_new_records_applied(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    store.apply(monthly(month), PARTITION, [pending(offset, f"old-{offset}", "ann") for offset in range(40)])

    # The topic was recreated: its offsets start at 0 again, with records never seen before.
    restarted = store.apply(monthly(month), PARTITION, [pending(offset, f"new-{offset}", "bob") for offset in range(5)])
    assert (restarted.resets, restarted.applied) == (5, 5)
    assert watermark(client, month) == 4, "the watermark follows the new offsets down"

    redelivered = store.apply(
        monthly(month), PARTITION, [pending(offset, f"new-{offset}", "bob") for offset in range(5)]
    )
    assert counts(redelivered) == {"applied": 0, "resets": 0, "redelivered": 5, "duplicates": 0, "unverified": 0}
    assert board_points(servers.redis_url, month.period) == {"ann": 40, "bob": 5}


def test_once_the_memory_expired_only_records_produced_after_the_watermark_are_a_restart(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    long_ago = now_ms() - 5 * HOUR_MS
    store.apply(
        monthly(month),
        PARTITION,
        [pending(offset, f"old-{offset}", "ann", produced_at=long_ago) for offset in range(30, 51)],
    )
    client.delete(applied_events_key(monthly(month), PARTITION))  # expired: no writes for a day

    # A genuine old redelivery (produced before the watermark's record) stays skipped, whatever its clock says
    # within the margin.
    old = store.apply(monthly(month), PARTITION, [pending(40, "old-40", "ann", produced_at=long_ago + MINUTE_MS)])
    assert (old.applied, old.unverified, old.resets) == (0, (40,), 0)

    # Produced well after the newest record applied: a new incarnation of the partition.
    restarted = store.apply(monthly(month), PARTITION, [pending(3, "new", "bob", produced_at=long_ago + HOUR_MS)])
    assert (restarted.resets, restarted.applied) == (1, 1)
    assert board_points(servers.redis_url, month.period) == {"ann": 21, "bob": 1}


def test_timestamps_from_the_future_or_missing_never_prove_a_restart(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    store.apply(monthly(month), PARTITION, [pending(offset, f"old-{offset}", "ann") for offset in range(10)])
    client.delete(applied_events_key(monthly(month), PARTITION))
    skewed = store.apply(
        monthly(month),
        PARTITION,
        [pending(2, "old-2", "ann", produced_at=now_ms() + 24 * HOUR_MS), pending(3, "old-3", "ann", produced_at=-1)],
    )
    assert (skewed.applied, skewed.unverified, skewed.resets) == (0, (2, 3), 0)
    assert watermark(client, month) == 9
    assert board_points(servers.redis_url, month.period) == {"ann": 10}


def test_a_watermark_from_before_cluster_scoping_is_taken_over(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    client.hset(applied_offsets_key(monthly(month)), UNSCOPED, 10)
    store = RedisBoardWriter(client)
    result = store.apply(
        monthly(month),
        PARTITION,
        [pending(offset, f"m-{offset}", "ann") for offset in range(8, 13)],
        unscoped_partition=UNSCOPED,
    )
    assert (result.applied, result.unverified) == (2, (8, 9, 10)), "offsets 8..10 were applied by the earlier release"
    assert watermark(client, month) == 12
    assert watermark(client, month, UNSCOPED) is None
    assert board_points(servers.redis_url, month.period) == {"ann": 2}


def test_a_closed_boards_event_ids_expire(client: RedisClient, month: Month) -> None:
    store = RedisBoardWriter(client, remember_events_seconds=3600)
    store.apply(monthly(month), PARTITION, [pending(0, "m1", "ann")])
    ttl_ms = int(client.pttl(applied_events_key(monthly(month), PARTITION)))
    assert 2 * HOUR_MS < ttl_ms <= store.keep_events_ms


def unique_players(*names: str) -> list[str]:
    """Player ids no other test uses: the all-time board is one key for every test on this server."""
    tag = uuid.uuid4().hex[:8]
    return [f"{name}-{tag}" for name in names]


def scores_on(client: RedisClient, board: Board, players: list[str]) -> list[int | None]:
    return [None if (raw := client.zscore(board.key, player)) is None else int(raw) for player in players]


def test_each_board_keeps_its_total_at_its_own_codecs_largest(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    whale, minnow = unique_players("whale", "minnow")
    partition = f"{PARTITION}-{whale}"
    alltime, calendar = Window.ALLTIME.parse_period("all"), monthly(month)
    assert (alltime.codec.max_points, calendar.codec.max_points) == (268_435_455, 2_147_483_647)
    for board in (alltime, calendar):
        store.apply(board, partition, [pending(0, "m1", whale, 200_000_000, tick=7), pending(1, "m1", minnow, 5)])
        store.apply(board, partition, [pending(2, "m2", whale, 1_500_000_000, tick=9)])
        store.apply(board, partition, [pending(3, "m3", whale, 1_500_000_000, tick=11)])
    assert scores_on(client, alltime, [whale, minnow]) == [
        alltime.codec.encode(268_435_455, 9),  # at the cap since tick 9: the third score changed nothing
        alltime.codec.encode(5, 0),
    ]
    assert scores_on(client, calendar, [whale]) == [calendar.codec.encode(2_147_483_647, 11)]
    assert board_points(servers.redis_url, month.period) == {whale: 2_147_483_647, minnow: 5}


def test_the_alltime_board_orders_equal_totals_by_the_minute_they_were_reached(client: RedisClient) -> None:
    store = RedisBoardWriter(client)
    board = Window.ALLTIME.parse_period("all")
    early, same_minute, later = unique_players("early", "same-minute", "later")
    reached = board.start_ms + 5 * 365 * 86_400_000 + 30_000  # 30 s into a minute, years after the origin
    reached_ticks = {early: board.ticks_at(reached), same_minute: board.ticks_at(reached + 29_000)}
    reached_ticks[later] = board.ticks_at(reached + 30_000)
    assert reached_ticks[early] == reached_ticks[same_minute] == reached_ticks[later] - 1
    store.apply(
        board,
        f"{PARTITION}-{early}",
        [
            pending(offset, f"m-{player}", player, 10, tick=reached_ticks[player])
            for offset, player in enumerate(reached_ticks)
        ],
    )
    assert scores_on(client, board, [early, same_minute, later]) == [
        board.codec.encode(10, reached_ticks[early]),
        board.codec.encode(10, reached_ticks[early]),
        board.codec.encode(10, reached_ticks[later]),
    ]
    assert board.codec.encode(10, reached_ticks[early]) > board.codec.encode(10, reached_ticks[later]), "earlier first"


def test_a_daily_and_a_weekly_board_are_separate_boards_with_their_own_ticks(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    reached = month.at(9 * 86_400 + 3_723)  # the 10th, 01:02:03: its week lies inside the month
    daily, weekly = Window.DAILY.board_at(reached), Window.WEEKLY.board_at(reached)
    for board in (daily, weekly):
        store.apply(board, PARTITION, [pending(0, "m1", "ann", 4, tick=board.ticks_at(reached))])
        again = store.apply(board, PARTITION, [pending(0, "m1", "ann", 4, tick=board.ticks_at(reached))])
        assert again.redelivered == (0,), "each board keeps its own watermark"
    assert client.hget(applied_offsets_key(daily), PARTITION) == b"0"
    assert scores_on(client, daily, ["ann"]) == [daily.codec.encode(4, 3_723)]
    assert scores_on(client, weekly, ["ann"]) == [weekly.codec.encode(4, weekly.ticks_at(reached))]
    assert board_points(servers.redis_url, daily) == board_points(servers.redis_url, weekly) == {"ann": 4}


def test_a_board_of_the_wrong_type_fails_the_call_before_anything_is_written(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    client.set(monthly(month).key, "not a sorted set")
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        store.apply(monthly(month), PARTITION, [pending(0, "m1", "ann")])
    assert client.exists(applied_events_key(monthly(month), PARTITION)) == 0, "no event remembered"
    assert watermark(client, month) is None

    client.delete(monthly(month).key)
    assert store.apply(monthly(month), PARTITION, [pending(0, "m1", "ann")]).applied == 1
    assert board_points(servers.redis_url, month.period) == {"ann": 1}
