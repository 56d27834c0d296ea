"""The apply script's boundaries, found by `make mutation` (tools/lua_mutation.py): the script run directly
with chosen clocks and timestamps, so an instant can sit exactly on a bound."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.board_writer import packed_records
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.adapters.redis_scripts import lua_source
from shared.application.apply import PendingScore

SLOTS = 16  # 2^4 ticks per point
MAX_POINTS = 1000
WINDOW_MS = 1000  # applied event ids are remembered this long, in record time
MARGIN_MS = 10
NOW_MS = 100_000
APPLIED, RESETS, REDELIVERED, DUPLICATES, UNVERIFIED, CAPPED, EXPIRED = range(7)


@dataclass
class Script:
    """One board, watermarks and remembered ids of its own, and the apply script on them."""

    client: RedisClient
    name: str

    @property
    def keys(self) -> list[str]:
        return [f"{self.name}:board", f"{self.name}:watermarks", f"{self.name}:remembered", f"{self.name}:hidden"]

    def apply(self, *records: tuple[int, str, int, int, int], now_ms: int = NOW_MS, expires_at: int = 0) -> list[Any]:
        """Records are (offset, event id, points, tick, produced at ms); every one is the player "ann"."""
        argv: list[str | int | bytes] = [SLOTS, MAX_POINTS, "p", "", WINDOW_MS, MARGIN_MS, now_ms, 60_000, expires_at]
        argv.append(
            packed_records(
                [
                    PendingScore(offset, event.encode(), "ann", points, tick, produced_at, "s")
                    for offset, event, points, tick, produced_at in records
                ]
            )
        )
        return list(self.client.eval(lua_source("apply_scores.lua"), 4, *self.keys, *argv))

    def total_and_tick(self) -> tuple[int, int]:
        score = int(float(self.client.zscore(self.keys[0], "ann") or -1))
        return score // SLOTS, SLOTS - 1 - score % SLOTS

    def watermarks(self) -> dict[str, str]:
        def text(value: bytes | str) -> str:
            return value.decode() if isinstance(value, bytes) else value

        return {text(name): text(value) for name, value in self.client.hgetall(self.keys[1]).items()}

    def remembered_at(self, event: str) -> float | None:
        return self.client.zscore(self.keys[2], event)


@pytest.fixture
def script(servers: LocalServers) -> Iterator[Script]:
    client = create_redis_client(servers.redis_url)
    yield Script(client, f"mutants-{uuid.uuid4().hex[:10]}")
    client.close()


def test_a_board_expires_at_the_very_millisecond_of_its_retention(script: Script) -> None:
    reply = script.apply((0, "e0", 5, 0, NOW_MS), now_ms=NOW_MS, expires_at=NOW_MS)
    assert reply == [0, 0, [], [], [], 0, [0]]
    assert script.client.exists(*script.keys) == 0


def test_the_reached_tick_is_the_latest_whatever_order_the_scores_arrive_in(script: Script) -> None:
    script.apply((0, "e0", 5, 9, NOW_MS))
    script.apply((1, "e1", 2, 4, NOW_MS))  # reached earlier, applied later: the total was reached at tick 9
    assert script.total_and_tick() == (7, 9)
    script.apply((2, "e2", 1, 12, NOW_MS))
    assert script.total_and_tick() == (8, 12)


def test_an_empty_call_on_a_new_board_leaves_the_watermarks_before_offset_0(script: Script) -> None:
    assert script.apply() == [0, 0, [], [], [], 0, []]
    assert script.watermarks() == {"p": "-1", "p@ts": "-1"}
    assert script.apply((0, "e0", 5, 0, NOW_MS))[APPLIED] == 1


def test_an_event_id_is_remembered_for_the_window_plus_the_clock_margin(script: Script) -> None:
    first = NOW_MS - WINDOW_MS - MARGIN_MS // 2
    script.apply((0, "e0", 1, 0, first))
    script.apply((1, "e1", 1, 0, NOW_MS))  # the newest record: e0 is the window and half the margin older
    assert script.apply((0, "e0", 1, 0, first))[REDELIVERED] == [0]
    assert script.remembered_at("e0") == first


def test_a_record_stamped_at_the_epoch_is_remembered_at_that_instant(script: Script) -> None:
    script.apply((0, "e0", 1, 0, 0))
    assert script.remembered_at("e0") == 0


def test_a_record_without_a_timestamp_is_remembered_as_now(script: Script) -> None:
    script.apply((0, "e0", 1, 0, -1))
    assert script.remembered_at("e0") == NOW_MS


def test_after_a_restart_a_record_stamped_at_the_epoch_is_a_new_record(script: Script) -> None:
    """Offsets restarted below the watermark; a timestamp of 0 is a time (the epoch), not "none"."""
    script.apply((5, "old", 1, 0, 5), now_ms=20)
    reply = script.apply((0, "new", 1, 0, 0), now_ms=20)
    assert (reply[RESETS], reply[UNVERIFIED]) == (1, [])


def test_below_the_watermark_a_record_without_a_timestamp_cannot_be_told_apart(script: Script) -> None:
    script.apply((5, "old", 1, 0, 5), now_ms=20)
    reply = script.apply((0, "new", 1, 0, -1), now_ms=20)
    assert (reply[RESETS], reply[UNVERIFIED]) == (0, [0])


def test_a_record_stamped_just_within_the_clock_margin_ahead_is_not_from_the_future(script: Script) -> None:
    script.apply((5, "old", 1, 0, 5), now_ms=NOW_MS)
    reply = script.apply((0, "new", 1, 0, NOW_MS + MARGIN_MS), now_ms=NOW_MS)
    assert reply[RESETS] == 1


def test_a_restart_is_told_after_a_first_record_stamped_at_the_epoch(script: Script) -> None:
    script.apply((5, "old", 1, 0, 0), now_ms=20)
    assert script.watermarks()["p@ts"] == "0"
    reply = script.apply((0, "new", 1, 0, MARGIN_MS + 1), now_ms=20)
    assert reply[RESETS] == 1


def test_without_its_memory_a_record_exactly_a_margin_newer_is_not_a_restart(script: Script) -> None:
    script.apply((5, "old", 1, 0, NOW_MS - 500))
    script.client.delete(script.keys[2])  # the remembered ids expired
    reply = script.apply((0, "new", 1, 0, NOW_MS - 500 + MARGIN_MS))
    assert (reply[RESETS], reply[UNVERIFIED]) == (0, [0])


def test_with_its_memory_a_record_produced_within_the_window_is_a_restart_only_past_its_margin(
    script: Script,
) -> None:
    newest = NOW_MS - 100
    script.apply((9, "old", 1, 0, newest))
    edge = newest - WINDOW_MS + MARGIN_MS  # older than this may have been forgotten: cannot be told
    assert script.apply((0, "at-edge", 1, 0, edge))[UNVERIFIED] == [0]
    assert script.apply((1, "past-edge", 1, 0, edge + 1))[RESETS] == 1
