"""Sharper checks on shared.application.live, one per mutant that survived the broader tests in
test_live_notifier.py: exact client error texts, tallies that count past one, and what a push
claims and releases."""

from __future__ import annotations

import json

import pytest

from shared.application.live import (
    CLAIM_EXPIRY_MARGIN_MS,
    MAX_CLIENT_MESSAGE_BYTES,
    PUSH_INTERVAL_MS,
    LiveNotifier,
    LiveSubscriptions,
)
from shared.domain.board_changes import BoardChange
from shared.domain.boards import Board, Window
from tests.support.live_fakes import FakeClock, FakeMemory, FakeRegistry, FakeTransport, PointsReader, queries_over

pytestmark = pytest.mark.unit


class Live:
    def __init__(self, memory: FakeMemory | None = None) -> None:
        self.clock = FakeClock()
        self.reader = PointsReader()
        self.registry = FakeRegistry(max_per_ip=50)
        self.memory = memory or FakeMemory(self.clock)
        self.memory.clock = self.clock
        self.transport = FakeTransport()
        self.queries = queries_over(self.reader, self.clock)
        self.monthly: Board = Window.MONTHLY.current(self.clock.now_ms)
        self.daily: Board = Window.DAILY.current(self.clock.now_ms)
        self.subscriptions = LiveSubscriptions(self.registry, self.transport, self.memory, self.queries)
        self.notifier = LiveNotifier(self.registry, self.transport, self.memory, self.queries, sleep=self.sleep)
        self.during_sleep: list[object] = []

    def sleep(self, seconds: float) -> None:
        for action in self.during_sleep:
            assert callable(action)
            action()
        self.clock.sleep(seconds)

    def watch(self, connection_id: str, user_id: str | None = None, window: str = "monthly") -> None:
        assert self.subscriptions.connect(connection_id, "10.0.0.1")
        message: dict[str, object] = {"action": "subscribe", "window": window}
        if user_id is not None:
            message["user_id"] = user_id
        assert self.subscriptions.subscribe(connection_id, json.dumps(message))

    def messages(self, connection_id: str) -> list[dict[str, object]]:
        return [json.loads(message) for message in self.transport.to(connection_id)]


@pytest.fixture
def live() -> Live:
    return Live()


def changed(*boards: Board) -> list[BoardChange]:
    return [BoardChange(board, None) for board in boards]


@pytest.mark.parametrize(
    ("body", "binary", "code", "message"),
    [
        ("{}", True, "invalid_message", "binary frames are not accepted: send a JSON text message"),
        ("{not json", False, "invalid_message", "the message is not JSON"),
        (None, False, "invalid_message", "the message is not JSON"),
        ("[1]", False, "invalid_message", "the message must be a JSON object"),
        ('{"action": "go"}', False, "unknown_action", 'action: the only action is "subscribe"'),
        ('{"action": "subscribe", "b": 1, "a": 2}', False, "invalid_message", "unknown fields: a, b"),
        (
            '{"action": "subscribe", "window": 7}',
            False,
            "invalid_window",
            'window: a string is required, e.g. "monthly"',
        ),
        (
            '{"action": "subscribe", "window": "monthly", "user_id": " x"}',
            False,
            "invalid_user_id",
            "user_id: must not start or end with whitespace",
        ),
        (
            "x" * (MAX_CLIENT_MESSAGE_BYTES + 1),
            False,
            "message_too_large",
            f"messages are at most {MAX_CLIENT_MESSAGE_BYTES} bytes",
        ),
        # Counted in bytes, not characters: 2100 two-byte characters are 4200 bytes.
        ('"' + "é" * 2100 + '"', False, "message_too_large", f"messages are at most {MAX_CLIENT_MESSAGE_BYTES} bytes"),
    ],
)
def test_an_error_message_says_exactly_what_is_wrong(
    live: Live, body: str | None, binary: bool, code: str, message: str
) -> None:
    assert live.subscriptions.connect("c1", "10.0.0.1")
    assert not live.subscriptions.subscribe("c1", body, binary=binary)
    assert live.messages("c1") == [{"type": "error", "code": code, "message": message}]


def test_an_unknown_window_error_names_the_window(live: Live) -> None:
    assert live.subscriptions.connect("c1", "10.0.0.1")
    assert not live.subscriptions.subscribe("c1", '{"action": "subscribe", "window": "hourly"}')
    (error,) = live.messages("c1")
    assert error["code"] == "unknown_window"
    assert (
        isinstance(error["message"], str) and error["message"].startswith("window: ") and "hourly" in error["message"]
    )


def test_a_message_of_exactly_the_limit_and_a_bytes_message_are_accepted(live: Live) -> None:
    document = '{"action": "subscribe", "window": "monthly"}'
    assert live.subscriptions.connect("c1", "10.0.0.1")
    assert live.subscriptions.subscribe("c1", document + " " * (MAX_CLIENT_MESSAGE_BYTES - len(document)))
    assert live.subscriptions.connect("c2", "10.0.0.1")
    assert live.subscriptions.subscribe("c2", document.encode())
    assert live.registry.subscriptions == {"c1": ("monthly", None), "c2": ("monthly", None)}


def test_a_subscriber_gone_before_its_answer_is_closed_and_the_message_still_counts_as_handled(live: Live) -> None:
    assert live.subscriptions.connect("c1", "10.0.0.1")
    live.transport.gone.add("c1")
    assert live.subscriptions.subscribe("c1", '{"action": "subscribe", "window": "monthly", "user_id": "ann"}')
    assert "c1" not in live.registry.subscriptions and "c1" not in live.registry.ips


def test_a_standing_message_names_its_board(live: Live) -> None:
    live.reader.put(live.monthly, "ann", 3)
    live.watch("c1", user_id="ann")
    _, standing = live.messages("c1")
    assert standing == {
        "type": "standing",
        "window": "monthly",
        "period": live.monthly.period,
        "as_of": live.clock.now_ms,
        "user_id": "ann",
        "rank": 1,
        "points": 3,
        "around": [{"rank": 1, "user_id": "ann", "points": 3}],
    }


def test_every_change_of_a_batch_is_handled_after_a_stale_or_pushed_one(live: Live) -> None:
    live.watch("m", window="monthly")
    live.watch("d", window="daily")
    past = live.monthly.previous()
    assert past is not None
    live.reader.put(live.monthly, "ann", 1)
    live.reader.put(live.daily, "ann", 1)
    tally = live.notifier.notify(changed(past, past, live.monthly, live.daily))
    assert (tally.stale, tally.top_pushes, tally.boards_pushed) == (2, 2, 2)
    assert tally.pushed_boards == [live.monthly, live.daily]


def test_two_boards_with_the_same_top_each_keep_their_own_digest(live: Live) -> None:
    live.watch("m", window="monthly")
    live.watch("d", window="daily")
    live.reader.put(live.monthly, "ann", 1)
    live.reader.put(live.daily, "ann", 1)
    assert live.notifier.notify(changed(live.monthly, live.daily)).top_pushes == 2


def test_tallies_count_every_board_and_every_send(live: Live) -> None:
    live.reader.put(live.monthly, "ann", 1)
    live.reader.put(live.daily, "ann", 1)
    live.notifier.notify(changed(live.monthly, live.daily))  # nobody watches: the tops are remembered
    live.clock.now_ms += PUSH_INTERVAL_MS
    for connection in ("m1", "m2", "m3"):
        live.watch(connection, user_id="ann", window="monthly")
    live.watch("d1", window="daily")
    live.reader.put(live.monthly, "ann", 2)  # the monthly top changes, the daily one does not
    live.transport.gone.add("m1")
    tally = live.notifier.notify(changed(live.monthly, live.daily))
    # monthly: top to m2, m3 (m1 gone); ann's standing to m2, m3 (m1 was closed, but the
    # subscribers were read before: it counts as gone twice)
    assert (tally.top_pushes, tally.standing_pushes, tally.gone, tally.unchanged_tops) == (2, 2, 2, 1)
    assert tally.boards_pushed == 1 and tally.pushed_boards == [live.monthly]


def test_a_board_counts_as_pushed_only_when_a_message_was_delivered(live: Live) -> None:
    live.watch("c1", user_id="ann")
    live.watch("c2", user_id="ann")
    live.reader.put(live.monthly, "ann", 1)
    live.transport.failing.update({"c1", "c2"})
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.failed_sends, tally.boards_pushed, tally.pushed_boards) == (4, 0, [])
    live.transport.failing.clear()
    live.transport.gone.update({"c1", "c2"})
    live.reader.put(live.monthly, "ann", 2)
    live.clock.now_ms += PUSH_INTERVAL_MS
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.gone, tally.boards_pushed, tally.pushed_boards) == (4, 0, [])


def test_an_unchanged_top_with_no_changed_standing_pushes_nothing(live: Live) -> None:
    live.reader.put(live.monthly, "ann", 1)
    live.notifier.notify(changed(live.monthly))  # nobody watches: the top is remembered
    live.watch("c1", user_id="ann")
    live.clock.now_ms += PUSH_INTERVAL_MS
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.unchanged_tops, tally.boards_pushed, tally.pushed_boards) == (1, 0, [])


def test_a_changed_standing_alone_makes_the_board_pushed(live: Live) -> None:
    for rank in range(10):
        live.reader.put(live.monthly, f"top{rank}", 100 + rank)
    live.reader.put(live.monthly, "ann", 1)
    live.notifier.notify(changed(live.monthly))  # nobody watches: the top is remembered
    live.watch("c1", user_id="ann")
    live.clock.now_ms += PUSH_INTERVAL_MS
    live.reader.put(live.monthly, "ann", 2)  # still 11th: the top 10 is unchanged
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.top_pushes, tally.standing_pushes, tally.boards_pushed) == (0, 1, 1)


def test_a_board_is_pushed_when_its_top_reached_one_subscriber_and_a_standing_none(live: Live) -> None:
    live.watch("ok")
    live.watch("lost", user_id="ann")
    live.transport.gone.add("lost")
    live.reader.put(live.monthly, "ann", 1)
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.top_pushes, tally.standing_pushes, tally.boards_pushed) == (1, 0, 1)


def test_throttled_and_stale_count_every_board_at_a_period_end(live: Live) -> None:
    assert live.monthly.end_ms is not None
    live.clock.now_ms = live.monthly.end_ms - 300  # the last day of the month: both boards end at midnight
    month, day = Window.MONTHLY.current(live.clock.now_ms), Window.DAILY.current(live.clock.now_ms)
    assert month.end_ms == day.end_ms
    live.notifier.notify(changed(month, day))
    live.clock.now_ms += 100
    tally = live.notifier.notify(changed(month, day))
    assert (tally.throttled, tally.stale, tally.boards_pushed) == (2, 2, 0)


def test_a_trailing_push_holds_its_claim_three_intervals_and_releases_it(live: Live) -> None:
    live.watch("c1")
    live.reader.put(live.monthly, "ann", 1)
    live.notifier.notify(changed(live.monthly))
    holds: list[int] = []
    live.during_sleep.append(lambda: holds.append(live.memory.claims[("trailing", live.monthly)] - live.clock.now_ms))
    live.clock.now_ms += 300
    live.reader.put(live.monthly, "ann", 2)
    assert live.notifier.notify(changed(live.monthly)).top_pushes == 1
    assert holds == [3 * PUSH_INTERVAL_MS]
    # Released: the next change within the new interval schedules its own trailing push.
    live.clock.now_ms += 10
    live.reader.put(live.monthly, "ann", 3)
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.throttled, tally.top_pushes) == (1, 1)


def test_a_trailing_push_claimed_meanwhile_by_another_instance_is_left_to_it(live: Live) -> None:
    live.watch("c1")
    live.reader.put(live.monthly, "ann", 1)
    live.notifier.notify(changed(live.monthly))
    live.clock.now_ms += 300
    live.reader.put(live.monthly, "ann", 2)

    def another_instance_pushes_at_the_interval_end() -> None:
        live.clock.now_ms += PUSH_INTERVAL_MS
        assert live.memory.claim_push(live.monthly, PUSH_INTERVAL_MS)

    live.during_sleep.append(another_instance_pushes_at_the_interval_end)
    tally = live.notifier.notify(changed(live.monthly))
    assert (tally.throttled, tally.top_pushes) == (1, 0)


class ReportedClaim(FakeMemory):
    """A push claim the store reports as holding `left_ms` more."""

    def __init__(self, left_ms: int) -> None:
        super().__init__(FakeClock())
        self.left_ms = left_ms

    def push_claim_left_ms(self, board: Board) -> int:
        return self.left_ms


@pytest.mark.parametrize(("left_ms", "slept"), [(0, []), (1, [(1 + CLAIM_EXPIRY_MARGIN_MS) / 1000])])
def test_the_trailing_wait_is_skipped_only_when_no_claim_is_left(left_ms: int, slept: list[float]) -> None:
    live = Live(ReportedClaim(left_ms))
    live.watch("c1")
    live.reader.put(live.monthly, "ann", 1)
    live.notifier.notify(changed(live.monthly))
    live.notifier.notify(changed(live.monthly))
    assert live.clock.slept == slept


def test_unchanged_tops_are_counted_per_board(live: Live) -> None:
    live.reader.put(live.monthly, "ann", 1)
    live.reader.put(live.daily, "ann", 1)
    live.notifier.notify(changed(live.monthly, live.daily))  # nobody watches: the tops are remembered
    live.watch("m", window="monthly")
    live.watch("d", window="daily")
    live.clock.now_ms += PUSH_INTERVAL_MS
    tally = live.notifier.notify(changed(live.monthly, live.daily))
    assert (tally.unchanged_tops, tally.top_pushes) == (2, 0)


def test_a_disconnected_client_is_no_longer_pushed_to(live: Live) -> None:
    live.watch("c1")
    live.subscriptions.disconnect("c1")
    assert live.registry.subscriptions == {} and live.registry.ips == {}
