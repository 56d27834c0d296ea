"""The apply script on a real redis-server: redeliveries, retried events, restarted offsets, forgetting."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_events_key, applied_offsets_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.application.apply import PendingScore
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


def pending(offset: int, match: str, user: str, points: int = 1, *, produced_at: int | None = None) -> PendingScore:
    stamp = now_ms() if produced_at is None else produced_at
    return PendingScore(offset, bytes.fromhex(event_id_for(match, user)), user, points, 0, stamp)


def watermark(client: RedisClient, month: Month, field: str = PARTITION) -> int | None:
    raw = client.hget(applied_offsets_key(month.period), field)
    return None if raw is None else int(raw)


def test_a_redelivered_record_and_a_retried_event_both_count_once(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    first = store.apply(month.period, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (first.applied, first.skipped) == (2, 0)

    redelivery = store.apply(month.period, PARTITION, [pending(10, "m1", "ann", 3), pending(11, "m2", "bob", 2)])
    assert (redelivery.applied, redelivery.redelivered) == (0, 2)

    # The same event produced again after an ambiguous 503: a new record at a new offset.
    retried = store.apply(month.period, PARTITION, [pending(12, "m1", "ann", 3), pending(13, "m3", "ann", 1)])
    assert (retried.applied, retried.duplicates) == (1, 1)
    assert board_points(servers.redis_url, month.period) == {"ann": 4, "bob": 2}


def test_a_retry_counts_once_however_late_the_updater_applies_it(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    """The window is in record time: a stalled updater catching up hours later still knows the first copy."""
    store = RedisBoardWriter(client, remember_events_seconds=3600)
    start = now_ms() - 6 * HOUR_MS
    store.apply(month.period, PARTITION, [pending(0, "m1", "ann", 5, produced_at=start)])
    store.apply(month.period, PARTITION, [pending(1, "m2", "bob", produced_at=start + 30 * MINUTE_MS)])
    late_copy = store.apply(month.period, PARTITION, [pending(2, "m1", "ann", 5, produced_at=start + 55 * MINUTE_MS)])
    assert late_copy.duplicates == 1

    # Records more than the window (plus the clock margin) newer push the first copy out.
    store.apply(month.period, PARTITION, [pending(3, "m3", "bob", produced_at=start + 2 * HOUR_MS)])
    outside = store.apply(month.period, PARTITION, [pending(4, "m1", "ann", 5, produced_at=start + 2 * HOUR_MS)])
    assert (outside.applied, outside.duplicates) == (1, 0), "outside the window the same event counts again"
    assert client.zcard(applied_events_key(month.period, PARTITION)) == 2, "ids older than the window are trimmed"
    assert board_points(servers.redis_url, month.period) == {"ann": 10, "bob": 2}


def test_offsets_that_restart_are_detected_and_the_new_records_applied(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    store.apply(month.period, PARTITION, [pending(offset, f"old-{offset}", "ann") for offset in range(40)])

    # The topic was recreated: its offsets start at 0 again, with records never seen before.
    restarted = store.apply(month.period, PARTITION, [pending(offset, f"new-{offset}", "bob") for offset in range(5)])
    assert (restarted.resets, restarted.applied) == (5, 5)
    assert watermark(client, month) == 4, "the watermark follows the new offsets down"

    redelivered = store.apply(month.period, PARTITION, [pending(offset, f"new-{offset}", "bob") for offset in range(5)])
    assert (redelivered.applied, redelivered.redelivered, redelivered.resets) == (0, 5, 0)
    assert board_points(servers.redis_url, month.period) == {"ann": 40, "bob": 5}


def test_once_the_memory_expired_only_records_produced_after_the_watermark_are_a_restart(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    long_ago = now_ms() - 5 * HOUR_MS
    store.apply(
        month.period,
        PARTITION,
        [pending(offset, f"old-{offset}", "ann", produced_at=long_ago) for offset in range(30, 51)],
    )
    client.delete(applied_events_key(month.period, PARTITION))  # expired: no writes for a day

    # A genuine old redelivery (produced before the watermark's record) stays skipped, whatever its clock says
    # within the margin.
    old = store.apply(month.period, PARTITION, [pending(40, "old-40", "ann", produced_at=long_ago + MINUTE_MS)])
    assert (old.applied, old.unverified, old.resets) == (0, 1, 0)

    # Produced well after the newest record applied: a new incarnation of the partition.
    restarted = store.apply(month.period, PARTITION, [pending(3, "new", "bob", produced_at=long_ago + HOUR_MS)])
    assert (restarted.resets, restarted.applied) == (1, 1)
    assert board_points(servers.redis_url, month.period) == {"ann": 21, "bob": 1}


def test_timestamps_from_the_future_or_missing_never_prove_a_restart(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    store = RedisBoardWriter(client)
    store.apply(month.period, PARTITION, [pending(offset, f"old-{offset}", "ann") for offset in range(10)])
    client.delete(applied_events_key(month.period, PARTITION))
    skewed = store.apply(
        month.period,
        PARTITION,
        [pending(2, "old-2", "ann", produced_at=now_ms() + 24 * HOUR_MS), pending(3, "old-3", "ann", produced_at=-1)],
    )
    assert (skewed.applied, skewed.unverified, skewed.resets) == (0, 2, 0)
    assert watermark(client, month) == 9
    assert board_points(servers.redis_url, month.period) == {"ann": 10}


def test_a_watermark_from_before_cluster_scoping_is_taken_over(
    client: RedisClient, servers: LocalServers, month: Month
) -> None:
    client.hset(applied_offsets_key(month.period), UNSCOPED, 10)
    store = RedisBoardWriter(client)
    result = store.apply(
        month.period,
        PARTITION,
        [pending(offset, f"m-{offset}", "ann") for offset in range(8, 13)],
        unscoped_partition=UNSCOPED,
    )
    assert (result.applied, result.unverified) == (2, 3), "offsets 8..10 were applied by the earlier release"
    assert watermark(client, month) == 12
    assert watermark(client, month, UNSCOPED) is None
    assert board_points(servers.redis_url, month.period) == {"ann": 2}


def test_a_closed_boards_event_ids_expire(client: RedisClient, month: Month) -> None:
    store = RedisBoardWriter(client, remember_events_seconds=3600)
    store.apply(month.period, PARTITION, [pending(0, "m1", "ann")])
    ttl_ms = int(client.pttl(applied_events_key(month.period, PARTITION)))
    assert 2 * HOUR_MS < ttl_ms <= store.keep_events_ms
