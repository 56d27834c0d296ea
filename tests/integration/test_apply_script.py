"""The apply script on a real redis-server: redeliveries, retried events, restarted offsets, forgetting."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.keys import applied_events_key, applied_offsets_key
from shared.model import event_id_for
from shared.redis_client import RedisClient, create_redis_client
from shared.redis_store import LeaderboardStore, PendingScore
from tests.integration.conftest import Month, board_points

PARTITION = "local/cluster-a/score-events-0"
HOUR_MS = 3_600_000


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url)
    yield redis_client
    redis_client.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def pending(offset: int, match: str, user: str, points: int = 1, *, produced_at: int | None = None) -> PendingScore:
    stamp = now_ms() if produced_at is None else produced_at
    return PendingScore(offset, bytes.fromhex(event_id_for(match, user)), user, points, 0, stamp)


def test_a_redelivered_record_and_a_retried_event_both_count_once(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = LeaderboardStore(client)
    first = store.apply(month.period, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (first.applied, first.skipped) == (2, 0)

    redelivery = store.apply(month.period, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (redelivery.applied, redelivery.redelivered) == (0, 2)

    # The same event produced again after an ambiguous 503: a new record at a new offset.
    retried = store.apply(month.period, PARTITION, [pending(12, "m1", "ann", 3), pending(13, "m3", "ann", 1)])
    assert (retried.applied, retried.duplicates) == (1, 1)
    assert board_points(servers.redis_url, month.period) == {"ann": 4, "bob": 2}


def test_the_same_event_on_another_partition_of_the_board_counts_once(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = LeaderboardStore(client)
    store.apply(month.period, "c/score-events-0", [pending(0, "m1", "ann", 5)])
    again = store.apply(month.period, "c/score-events-7", [pending(0, "m1", "ann", 5)])
    assert again.duplicates == 1
    assert board_points(servers.redis_url, month.period) == {"ann": 5}


def test_offsets_that_restart_are_detected_and_the_new_records_applied(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = LeaderboardStore(client)
    store.apply(month.period, PARTITION, [pending(offset, f"old-{offset}", "ann") for offset in range(40)])

    # The topic was recreated: its offsets start at 0 again, with records never seen before.
    restarted = store.apply(month.period, PARTITION, [pending(offset, f"new-{offset}", "bob") for offset in range(5)])
    assert restarted.resets == 1
    assert restarted.applied == 5
    assert client.hget(applied_offsets_key(month.period), PARTITION) in (b"4", "4")

    redelivered = store.apply(month.period, PARTITION, [pending(offset, f"new-{offset}", "bob") for offset in range(5)])
    assert (redelivered.applied, redelivered.redelivered, redelivered.resets) == (0, 5, 0)
    assert board_points(servers.redis_url, month.period) == {"ann": 40, "bob": 5}


def test_a_restart_is_seen_from_timestamps_after_the_events_are_forgotten(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = LeaderboardStore(client)
    long_ago = now_ms() - 5 * HOUR_MS
    store.apply(month.period, PARTITION, [pending(30, "old", "ann", produced_at=long_ago)])
    client.delete(applied_events_key(month.period))  # as if the window had passed

    # Older than the window, but produced well after the record at the watermark: a new incarnation.
    later = long_ago + 2 * HOUR_MS
    restarted = store.apply(month.period, PARTITION, [pending(3, "new", "bob", produced_at=later)])
    assert (restarted.resets, restarted.applied) == (1, 1)

    # A genuinely old redelivery (produced before the watermark's record, not remembered) stays skipped.
    store.apply(month.period, PARTITION, [pending(50, "newer", "bob", produced_at=later)])
    client.delete(applied_events_key(month.period))
    old = store.apply(month.period, PARTITION, [pending(49, "older", "cat", produced_at=later - 1000)])
    assert (old.applied, old.unverified, old.resets) == (0, 1, 0)
    assert board_points(servers.redis_url, month.period) == {"ann": 1, "bob": 2}


def test_events_are_forgotten_after_the_window(client: RedisClient, servers: LocalServers, month: Month) -> None:
    store = LeaderboardStore(client, remember_events_seconds=2)
    store.apply(month.period, PARTITION, [pending(1, "m1", "ann", 2)])
    assert client.zcard(applied_events_key(month.period)) == 1
    time.sleep(2.2)
    later = store.apply(month.period, PARTITION, [pending(2, "m1", "ann", 2)])
    assert (later.applied, later.duplicates) == (1, 0), "outside the window the same event counts again"
    assert client.zcard(applied_events_key(month.period)) == 1, "expired ids are trimmed"
    assert board_points(servers.redis_url, month.period) == {"ann": 4}
