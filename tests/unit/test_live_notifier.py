"""LiveSubscriptions and LiveNotifier over in-memory ports: what is pushed, to whom, how often."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.application.live import (
    CLAIM_EXPIRY_MARGIN_MS,
    MAX_CLIENT_MESSAGE_BYTES,
    PUSH_INTERVAL_MS,
    LiveNotifier,
    LiveSubscriptions,
)
from shared.domain.board_changes import (
    MAX_PLAYERS_PER_BOARD,
    BoardChange,
    InvalidChangeReport,
    decode_changes,
    encode_changes,
    merge_changes,
)
from shared.domain.boards import Board, Window
from tests.support.live_fakes import (
    FakeClock,
    FakeMemory,
    FakeRegistry,
    FakeTransport,
    PointsReader,
    queries_over,
)

pytestmark = pytest.mark.unit


class Live:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.reader = PointsReader()
        self.registry = FakeRegistry()
        self.memory = FakeMemory(self.clock)
        self.transport = FakeTransport()
        queries = queries_over(self.reader, self.clock)
        self.board: Board = Window.MONTHLY.current(self.clock.now_ms)
        self.subscriptions = LiveSubscriptions(self.registry, self.transport, self.memory, queries)
        self.notifier = LiveNotifier(self.registry, self.transport, self.memory, queries, sleep=self.clock.sleep)

    def watch(self, connection_id: str, user_id: str | None = None, window: str = "monthly") -> None:
        assert self.subscriptions.connect(connection_id, "10.0.0.1")
        message: dict[str, Any] = {"action": "subscribe", "window": window}
        if user_id is not None:
            message["user_id"] = user_id
        assert self.subscriptions.subscribe(connection_id, json.dumps(message))

    def messages(self, connection_id: str) -> list[dict[str, Any]]:
        return [json.loads(message) for message in self.transport.to(connection_id)]

    def change(self, *players: str) -> list[BoardChange]:
        return [BoardChange(self.board, frozenset(players))]


@pytest.fixture
def live() -> Live:
    return Live()


def test_a_subscription_is_answered_with_the_current_top_and_standing(live: Live) -> None:
    live.reader.put(live.board, "ann", 9)
    live.reader.put(live.board, "bob", 4)
    live.watch("c1", user_id="bob")
    top, standing = live.messages("c1")
    assert top == {
        "type": "top",
        "window": "monthly",
        "period": live.board.period,
        "as_of": live.clock.now_ms,
        "entries": [{"rank": 1, "user_id": "ann", "points": 9}, {"rank": 2, "user_id": "bob", "points": 4}],
    }
    assert standing["as_of"] == live.clock.now_ms
    assert (standing["type"], standing["user_id"], standing["rank"], standing["points"]) == ("standing", "bob", 2, 4)
    assert [entry["user_id"] for entry in standing["around"]] == ["ann", "bob"]


def test_each_push_says_when_its_board_was_read_so_a_client_keeps_the_later_of_two(live: Live) -> None:
    live.watch("c1", user_id="ann")
    (subscribed,) = live.messages("c1")
    live.clock.now_ms += 1
    live.reader.put(live.board, "ann", 5)
    live.notifier.notify(live.change("ann"))
    live.clock.now_ms += PUSH_INTERVAL_MS
    live.reader.put(live.board, "ann", 6)
    live.notifier.notify(live.change("ann"))
    _, first_top, first_standing, second_top, second_standing = live.messages("c1")
    assert subscribed["as_of"] < first_top["as_of"]
    assert first_top["as_of"] == first_standing["as_of"] == second_top["as_of"] - PUSH_INTERVAL_MS
    assert second_standing["as_of"] == second_top["as_of"] == live.clock.now_ms


def test_a_changed_top_is_pushed_to_every_subscriber_of_the_window(live: Live) -> None:
    live.watch("c1")
    live.watch("c2")
    live.watch("other", window="daily")
    live.reader.put(live.board, "ann", 5)
    tally = live.notifier.notify(live.change("ann"))
    assert tally.top_pushes == 2
    for connection in ("c1", "c2"):
        assert live.messages(connection)[-1]["entries"] == [{"rank": 1, "user_id": "ann", "points": 5}]
    assert len(live.messages("other")) == 1  # only its answer to subscribe


def test_an_unchanged_top_is_not_pushed_again(live: Live) -> None:
    for rank in range(10):
        live.reader.put(live.board, f"top{rank}", 100 - rank)
    live.watch("c1")
    live.notifier.notify(live.change("top0"))
    live.clock.now_ms += PUSH_INTERVAL_MS
    before = len(live.transport.sent)
    live.reader.put(live.board, "low", 1)  # 11th: the top 10 stays as it was
    tally = live.notifier.notify(live.change("low"))
    assert (tally.top_pushes, tally.unchanged_tops, len(live.transport.sent)) == (0, 1, before)


def test_a_board_is_pushed_at_most_once_per_interval_and_the_last_change_follows(live: Live) -> None:
    live.watch("c1")
    live.reader.put(live.board, "ann", 1)
    assert live.notifier.notify(live.change("ann")).top_pushes == 1
    live.clock.now_ms += 300
    live.reader.put(live.board, "ann", 2)
    tally = live.notifier.notify(live.change("ann"))
    # Within the interval: no push now, one trailing push once the interval has passed.
    assert tally.throttled == 1 and live.clock.slept == [(PUSH_INTERVAL_MS - 300 + CLAIM_EXPIRY_MARGIN_MS) / 1000]
    assert tally.top_pushes == 1
    assert live.messages("c1")[-1]["entries"][0]["points"] == 2


def test_a_pending_trailing_push_is_not_scheduled_twice(live: Live) -> None:
    live.watch("c1")
    live.reader.put(live.board, "ann", 1)
    live.notifier.notify(live.change("ann"))
    assert live.memory.claim_trailing(live.board, 3 * PUSH_INTERVAL_MS)  # another instance waits already
    tally = live.notifier.notify(live.change("ann"))
    assert (tally.throttled, tally.top_pushes, live.clock.slept) == (1, 0, [])


def test_standings_are_pushed_when_rank_or_points_change_only(live: Live) -> None:
    live.reader.put(live.board, "ann", 5)
    live.reader.put(live.board, "bob", 3)
    live.watch("c-bob", user_id="bob")
    live.watch("c-ann", user_id="ann")
    live.reader.put(live.board, "cat", 4)  # passes bob: his rank moves, ann's does not
    live.notifier.notify(live.change("cat"))
    bob_standings = [m for m in live.messages("c-bob") if m["type"] == "standing"]
    ann_standings = [m for m in live.messages("c-ann") if m["type"] == "standing"]
    assert [(m["rank"], m["points"]) for m in bob_standings] == [(2, 3), (3, 3)]
    assert [(m["rank"], m["points"]) for m in ann_standings] == [(1, 5)]


def test_gone_connections_are_removed_from_the_registry(live: Live) -> None:
    live.watch("c1")
    live.watch("c2")
    live.transport.gone.add("c1")
    live.reader.put(live.board, "ann", 5)
    tally = live.notifier.notify(live.change("ann"))
    assert tally.gone == 1 and tally.top_pushes == 1
    assert "c1" not in live.registry.subscriptions and "c2" in live.registry.subscriptions


def test_a_failing_push_is_counted_and_the_others_still_get_theirs(live: Live) -> None:
    live.watch("c1")
    live.watch("c2")
    live.transport.failing.add("c1")
    live.reader.put(live.board, "ann", 5)
    tally = live.notifier.notify(live.change("ann"))
    assert (tally.failed_sends, tally.top_pushes) == (1, 1)


def test_changes_to_a_past_period_are_not_pushed(live: Live) -> None:
    live.watch("c1")
    past = live.board.previous()
    assert past is not None
    live.reader.put(past, "ann", 5)
    tally = live.notifier.notify([BoardChange(past, frozenset({"ann"}))])
    assert (tally.stale, tally.top_pushes) == (1, 0)


def test_a_top_first_seen_while_nobody_watched_is_not_pushed_later(live: Live) -> None:
    live.reader.put(live.board, "ann", 5)
    live.notifier.notify(live.change("ann"))  # nobody watches: nothing sent, the top is remembered
    live.watch("c1")  # answered with that top
    live.clock.now_ms += PUSH_INTERVAL_MS
    tally = live.notifier.notify(live.change("ann"))  # reported again, the top unchanged since
    assert tally.top_pushes == 0 and len(live.messages("c1")) == 1


@pytest.mark.parametrize(
    ("body", "binary", "code"),
    [
        ("{not json", False, "invalid_message"),
        ("[1, 2]", False, "invalid_message"),
        ('{"action": "unsubscribe"}', False, "unknown_action"),
        ('{"action": "subscribe", "window": "hourly"}', False, "unknown_window"),
        ('{"action": "subscribe"}', False, "invalid_window"),
        ('{"action": "subscribe", "window": "monthly", "user_id": ""}', False, "invalid_user_id"),
        ('{"action": "subscribe", "window": "monthly", "extra": 1}', False, "invalid_message"),
        ("AAEC", True, "invalid_message"),
        ("x" * (MAX_CLIENT_MESSAGE_BYTES + 1), False, "message_too_large"),
    ],
)
def test_bad_messages_get_an_error_naming_the_problem(live: Live, body: str, binary: bool, code: str) -> None:
    assert live.subscriptions.connect("c1", "10.0.0.1")
    assert not live.subscriptions.subscribe("c1", body, binary=binary)
    (error,) = live.messages("c1")
    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert "c1" not in live.registry.subscriptions


def test_a_new_subscription_replaces_the_previous_one(live: Live) -> None:
    live.watch("c1", window="monthly")
    live.watch("c1", window="daily")
    assert live.registry.subscriptions["c1"] == ("daily", None)


def test_connections_beyond_the_per_ip_limit_are_refused(live: Live) -> None:
    assert all(live.subscriptions.connect(f"c{n}", "10.0.0.9") for n in range(live.registry.max_per_ip))
    assert not live.subscriptions.connect("one-more", "10.0.0.9")
    assert live.subscriptions.connect("elsewhere", "10.0.0.10")


def test_change_reports_round_trip_and_stay_bounded() -> None:
    board = Window.DAILY.parse_period("2026-12-02")
    many = {f"p{n}" for n in range(MAX_PLAYERS_PER_BOARD + 1)}
    raw = encode_changes({board: {"ann", "bob"}, Window.ALLTIME.parse_period("all"): many}, 42)
    changes, applied_at = decode_changes(raw)
    assert applied_at == 42
    assert changes[0] == BoardChange(board, frozenset({"ann", "bob"}))
    assert changes[1].players is None  # too many to list: any player may have moved
    merged = merge_changes([BoardChange(board, frozenset({"ann"})), BoardChange(board, frozenset({"cat"}))])
    assert merged == [BoardChange(board, frozenset({"ann", "cat"}))]
    with pytest.raises(InvalidChangeReport):
        decode_changes(b'{"boards": [{"window": "hourly", "period": "x", "players": null}], "applied_at_ms": 1}')


def test_a_trailing_push_whose_period_ended_during_the_wait_is_not_pushed(live: Live) -> None:
    day = Window.DAILY.current(live.clock.now_ms)
    assert day.end_ms is not None
    live.clock.now_ms = day.end_ms - 300  # the change is throttled 300 ms before midnight
    live.watch("c1", window="daily")
    live.reader.put(day, "ann", 1)
    live.notifier.notify([BoardChange(day, frozenset({"ann"}))])
    live.clock.now_ms += 100
    live.reader.put(day, "ann", 2)
    tally = live.notifier.notify([BoardChange(day, frozenset({"ann"}))])
    assert live.clock.now_ms > day.end_ms  # the wait for the trailing push crossed midnight
    assert (tally.throttled, tally.stale, tally.top_pushes) == (1, 1, 0)
    assert [m["period"] for m in live.messages("c1") if m["type"] == "top"] == [day.period] * 2


def test_a_new_watcher_of_a_player_does_not_hide_the_change_from_earlier_watchers(live: Live) -> None:
    live.reader.put(live.board, "ann", 5)
    live.reader.put(live.board, "bob", 3)
    live.watch("c1", user_id="bob")
    live.reader.put(live.board, "cat", 4)  # applied; its report has not reached the notifier yet
    live.watch("c2", user_id="bob")  # answered with bob's new rank at once
    live.notifier.notify(live.change("cat"))
    c1_ranks = [m["rank"] for m in live.messages("c1") if m["type"] == "standing"]
    c2_ranks = [m["rank"] for m in live.messages("c2") if m["type"] == "standing"]
    assert c1_ranks[-1] == 3 and c2_ranks[-1] == 3
