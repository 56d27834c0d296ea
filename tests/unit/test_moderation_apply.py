"""The updater applying moderation actions: the boards an action reaches, the hidden-score rule, the
tags sent to each board in partition order, and who is banned kept across batches and redeliveries.

The board writer is the in-memory reference store (tests.support.updater_fakes), held to the apply
script by tests/integration/test_moderation_model.py. Instants are fixed and past.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from types import SimpleNamespace

import pytest
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.adapters.msk_batch import ScoreBatchProcessor, decode_score_record
from shared.adapters.updater_progress import CLOCK_SKEW_MS, _judge
from shared.application.apply import ScoreApplier
from shared.application.live import PUSH_INTERVAL_MS, LiveNotifier, LiveSubscriptions
from shared.application.moderation_apply import (
    BAN,
    HIDDEN_SCORE,
    MAX_PERIODS_MODERATED,
    RESET,
    SCORE,
    UNBAN,
    WITHOUT_END,
    BanBook,
    InMemoryModerationState,
    ban_hides,
    moderated_boards,
)
from shared.application.queries import LeaderboardQueries
from shared.application.reference_board import ReferenceBoards
from shared.domain.board_changes import BoardChange
from shared.domain.boards import DAY_MS, BoardSchedule, Window
from shared.domain.errors import StoreUnavailable
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for, ban_in_force
from shared.domain.record_codec import PoisonRecord, decode_update, encode_moderation
from tests.support.live_fakes import FakeClock, FakeMemory, FakeRegistry, FakeTransport
from tests.support.updater_fakes import (
    EVERY_WINDOW,
    MONTHLY_ONLY,
    NOVEMBER,
    InMemoryBoards,
    RecordingDeadLetters,
    board,
    kafka_event,
    keyed,
    moderation,
    process,
    record,
    run,
    score,
)

pytestmark = pytest.mark.moderation

HOUR = 3_600_000
NOV = board(Window.MONTHLY, "2026-11")
ALL = board(Window.ALLTIME, "all")


def action(kind: ModerationKind, at: int, until: int | None = None, user: str = "eve") -> ModerationAction:
    return ModerationAction(action_id_for(f"r-{kind}-{at}", user), user, kind, "cheating", "admin:a", at, until)


# --- the hidden-score rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("until", "at", "hidden"),
    [
        (None, NOVEMBER + 10**12, True),  # a ban without end hides whenever
        (NOVEMBER + HOUR, NOVEMBER + HOUR - 1, True),
        (NOVEMBER + HOUR, NOVEMBER + HOUR, False),  # from `until` on, scores show
        (NOVEMBER + HOUR, NOVEMBER + 2 * HOUR, False),
    ],
)
def test_the_stored_ban_hides_exactly_as_the_ban_action_is_in_force(until: int | None, at: int, hidden: bool) -> None:
    ban = action(ModerationKind.BAN, NOVEMBER, until)
    assert ban_in_force(ban, at) is hidden
    assert ban_hides(WITHOUT_END if until is None else until, at) is hidden


def test_a_score_whose_receipt_time_is_unknown_is_hidden_while_a_ban_is_stored() -> None:
    assert ban_hides(NOVEMBER + HOUR, None)


# --- the boards an action reaches --------------------------------------------------------------------


def test_a_ban_reaches_every_retained_period_of_every_window_and_the_next_one() -> None:
    ban = action(ModerationKind.BAN, NOVEMBER)  # 2026-11-05 10:00
    reached = moderated_boards(EVERY_WINDOW, ban)
    days = sorted(b.period for b in reached if b.window is Window.DAILY)
    # A daily board expires 2 h (grace) + 14 days after its day: 2026-10-21's expired at 11-05 02:00.
    assert days[0] == "2026-10-22" and days[-1] == "2026-11-06"
    assert len(days) == 16
    weeks = sorted(b.period for b in reached if b.window is Window.WEEKLY)
    assert weeks[-1] == "2026-W45" and len(weeks) == 9
    months = [b for b in reached if b.window is Window.MONTHLY]
    assert len(months) == MAX_PERIODS_MODERATED, "monthly boards are kept: the newest 240 periods"
    assert months[0].period == "2026-11" and months[-1].period == "2006-12"
    assert [b for b in reached if b.window is Window.ALLTIME] == [ALL]
    assert len(set(reached)) == len(reached)


def test_a_reset_reaches_its_one_board_or_none_when_its_window_is_not_enabled() -> None:
    reset = action(ModerationKind.RESET, NOVEMBER)._replace(window="daily", period="2026-11-01")
    assert moderated_boards(EVERY_WINDOW, reset) == [board(Window.DAILY, "2026-11-01")]
    assert moderated_boards(MONTHLY_ONLY, reset) == []


@pytest.mark.parametrize(
    ("window", "period"), [("hourly", "2026-11"), ("monthly", "2026-13"), ("daily", "2026-11"), (None, None)]
)
def test_a_reset_naming_a_board_that_cannot_exist_is_poison(window: str | None, period: str | None) -> None:
    reset = action(ModerationKind.RESET, NOVEMBER)._replace(window=window, period=period)
    with pytest.raises(PoisonRecord, match="cannot exist"):
        moderated_boards(EVERY_WINDOW, reset)


# --- the ban book ----------------------------------------------------------------------------------------


class CountingState(InMemoryModerationState):
    def __init__(self, banned: Mapping[str, int] | None = None, fail_writes: bool = False) -> None:
        super().__init__()
        self.banned.update(banned or {})
        self.asked: list[set[str]] = []
        self.asked_every: list[int] = []
        self.fail_writes = fail_writes

    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        self.asked.append(set(players))
        return super().banned_until(players)

    def every_ban(self, at_most: int) -> dict[str, int] | None:
        self.asked_every.append(at_most)
        return super().every_ban(at_most)

    def record(self, states: Mapping[str, int | None]) -> None:
        if self.fail_writes:
            raise RedisConnectionError("redis is down")
        super().record(states)


def test_the_book_reads_the_batch_players_once_and_follows_the_actions_in_order() -> None:
    state = CountingState({"eve": WITHOUT_END})
    book = BanBook(state, ["eve", "ann"])
    assert state.asked == [{"eve", "ann"}]
    assert book.hides("eve", NOVEMBER) and not book.hides("ann", NOVEMBER)
    book.take("p-0", 4, action(ModerationKind.UNBAN, NOVEMBER))
    book.take("p-0", 7, action(ModerationKind.BAN, NOVEMBER, NOVEMBER + HOUR, user="ann"))
    assert not book.hides("eve", NOVEMBER)
    assert book.hides("ann", NOVEMBER + HOUR - 1) and not book.hides("ann", NOVEMBER + HOUR)
    assert state.asked == [{"eve", "ann"}], "no read per record"
    assert book.settled_states({"p-0": None}) == {"p-0": {"eve": None, "ann": NOVEMBER + HOUR}}
    assert book.settled_states({"p-0": 7}) == {"p-0": {"eve": None}}, "an action from the failure on is not settled"
    assert book.settled_states({"p-0": 4}) == {}


def test_a_player_not_among_the_batch_keys_is_read_once_on_their_own() -> None:
    state = CountingState({"eve": WITHOUT_END})
    book = BanBook(state, ["ann"])
    assert book.hides("eve", NOVEMBER) and book.hides("eve", NOVEMBER + 1)
    assert state.asked == [{"ann"}, {"eve"}]


# --- through the batch processor ----------------------------------------------------------------------


def test_a_ban_moves_the_player_off_every_board_and_later_scores_are_counted_hidden() -> None:
    boards, state = InMemoryBoards(), InMemoryModerationState()
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, score("ann", "m1", 20, at=NOVEMBER)), "ann"),
        keyed(record(0, 2, moderation("eve", ModerationKind.BAN, NOVEMBER + HOUR)), "eve"),
        keyed(record(0, 3, score("eve", "m2", 5, at=NOVEMBER + HOUR, received=NOVEMBER + HOUR)), "eve"),
        keyed(record(0, 4, score("ann", "m2", 1, at=NOVEMBER + HOUR, received=NOVEMBER + HOUR)), "ann"),
    )
    assert run(boards, RecordingDeadLetters(), event, moderation=state) == []
    for shown in (boards.on(Window.MONTHLY, "2026-11"), boards.on(Window.ALLTIME, "all")):
        assert shown == {"ann": 21}
    assert boards.hidden[NOV] == {"eve": 55} and boards.hidden[ALL] == {"eve": 55}
    assert state.banned == {"eve": WITHOUT_END}


def test_an_unban_restores_exactly_the_points_earned_before_and_during_the_ban() -> None:
    boards, state = InMemoryBoards(), InMemoryModerationState()
    first = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, moderation("eve", ModerationKind.BAN, NOVEMBER + HOUR)), "eve"),
    )
    assert run(boards, RecordingDeadLetters(), first, moderation=state) == []
    # The next batch: who is banned comes from the state the first one settled.
    second = kafka_event(
        keyed(record(0, 2, score("eve", "m2", 7, at=NOVEMBER + HOUR, received=NOVEMBER + HOUR)), "eve"),
        keyed(record(0, 3, moderation("eve", ModerationKind.UNBAN, NOVEMBER + 2 * HOUR)), "eve"),
        keyed(record(0, 4, score("eve", "m3", 1, at=NOVEMBER + 2 * HOUR, received=NOVEMBER + 2 * HOUR)), "eve"),
    )
    assert run(boards, RecordingDeadLetters(), second, moderation=state) == []
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 58}
    assert boards.on(Window.DAILY, "2026-11-05") == {"eve": 58}
    assert NOV not in boards.hidden
    assert state.banned == {}


def test_a_timed_ban_hides_only_the_scores_received_before_its_end() -> None:
    boards, state = InMemoryBoards(), InMemoryModerationState()
    until = NOVEMBER + 2 * HOUR
    event = kafka_event(
        keyed(record(0, 0, moderation("eve", ModerationKind.BAN, NOVEMBER, until=until)), "eve"),
        keyed(record(0, 1, score("eve", "m1", 3, at=NOVEMBER, received=until - 1)), "eve"),
        keyed(record(0, 2, score("eve", "m2", 4, at=NOVEMBER, received=until)), "eve"),
    )
    assert run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY, state) == []
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 4}
    assert boards.hidden[NOV] == {"eve": 3}
    # The expiry's unban (produced by the admin side at `until`) moves the hidden points back.
    expiry = kafka_event(keyed(record(0, 3, moderation("eve", ModerationKind.UNBAN, until, request="x")), "eve"))
    assert run(boards, RecordingDeadLetters(), expiry, MONTHLY_ONLY, state) == []
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 7}


def test_a_reset_wipes_one_board_shown_and_hidden_and_later_scores_count_from_zero() -> None:
    boards, state = InMemoryBoards(), InMemoryModerationState()
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(
            record(0, 1, moderation("eve", ModerationKind.RESET, NOVEMBER, window="monthly", period="2026-11")), "eve"
        ),
        keyed(record(0, 2, score("eve", "m2", 2, at=NOVEMBER, received=NOVEMBER)), "eve"),
    )
    assert run(boards, RecordingDeadLetters(), event, moderation=state) == []
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 2}
    assert boards.on(Window.ALLTIME, "all") == {"eve": 52}, "other boards keep their points"
    assert state.banned == {}


def test_each_board_is_sent_the_tags_in_partition_order() -> None:
    boards = InMemoryBoards()
    calls: list[list[tuple[int, str]]] = []
    original = boards.store.apply

    def spy(b, partition, scores, **options):  # type: ignore[no-untyped-def]
        if b == NOV:
            calls.append([(s.offset, s.tag) for s in scores])
        return original(b, partition, scores, **options)

    boards.store.apply = spy  # type: ignore[method-assign,assignment]
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 1, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, moderation("eve", ModerationKind.BAN, NOVEMBER)), "eve"),
        keyed(record(0, 2, score("eve", "m2", 1, at=NOVEMBER, received=NOVEMBER)), "eve"),
        keyed(record(0, 3, moderation("eve", ModerationKind.UNBAN, NOVEMBER)), "eve"),
        keyed(
            record(0, 4, moderation("eve", ModerationKind.RESET, NOVEMBER, window="monthly", period="2026-11")), "eve"
        ),
        keyed(record(0, 5, score("eve", "m3", 1, at=NOVEMBER, received=NOVEMBER)), "eve"),
    )
    assert run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY) == []
    assert calls == [[(0, SCORE), (1, BAN), (2, HIDDEN_SCORE), (3, UNBAN), (4, RESET), (5, SCORE)]]


def test_a_ban_writes_nothing_to_boards_that_hold_no_one() -> None:
    boards = InMemoryBoards()
    event = kafka_event(
        keyed(record(0, 0, score("ann", "m1", 1, at=NOVEMBER)), "ann"),
        keyed(record(0, 1, moderation("eve", ModerationKind.BAN, NOVEMBER)), "eve"),
    )
    failed, tally = process(boards, RecordingDeadLetters(), event, MONTHLY_ONLY)
    assert failed == [] and tally.applied == 2
    sent = {b for b, _, _ in boards.calls}
    assert len(sent) == MAX_PERIODS_MODERATED, "sent to every kept month"
    assert set(boards.watermarks) == {(NOV, "score-events-0")}, "only the board holding a player keeps a watermark"


def test_a_redelivered_batch_applies_each_action_once_on_every_board() -> None:
    boards, state = InMemoryBoards(failing_boards={ALL}), InMemoryModerationState()
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, moderation("eve", ModerationKind.BAN, NOVEMBER)), "eve"),
        keyed(record(0, 2, moderation("eve", ModerationKind.UNBAN, NOVEMBER)), "eve"),
        keyed(record(0, 3, moderation("eve", ModerationKind.BAN, NOVEMBER, request="again")), "eve"),
    )
    with pytest.raises(BatchProcessingError):  # every record failed: Lambda retries the whole batch
        run(boards, RecordingDeadLetters(), event, moderation=state)
    assert state.banned == {}, "nothing settled: the failing board's call starts at the batch's first offset"
    assert boards.hidden[NOV] == {"eve": 50}, "the boards that took the ban moved the player"
    boards.failing_boards = set()
    assert run(boards, RecordingDeadLetters(), event, moderation=state) == []
    assert boards.hidden[NOV] == {"eve": 50} and boards.hidden[ALL] == {"eve": 50}
    assert boards.on(Window.MONTHLY, "2026-11") == {} and boards.on(Window.ALLTIME, "all") == {}
    assert state.banned == {"eve": WITHOUT_END}
    assert run(boards, RecordingDeadLetters(), event, moderation=state) == []
    assert boards.hidden[NOV] == {"eve": 50}, "a third delivery changes nothing"


def test_the_state_follows_only_the_actions_below_a_partition_failure() -> None:
    # A day the ban does not reach (two days after it) is first written at offset 3, and fails there.
    later_day = board(Window.DAILY, "2026-11-07")
    schedule = BoardSchedule((Window.DAILY, Window.MONTHLY))
    boards, state = InMemoryBoards(failing_from={later_day: 3}), InMemoryModerationState()
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, moderation("eve", ModerationKind.BAN, NOVEMBER)), "eve"),
        keyed(record(0, 2, score("eve", "m2", 1, at=NOVEMBER, received=NOVEMBER)), "eve"),
        keyed(record(0, 3, score("ann", "m3", 1, at=later_day.start_ms, received=NOVEMBER)), "ann"),
        keyed(record(0, 4, moderation("eve", ModerationKind.UNBAN, NOVEMBER)), "eve"),
    )
    assert run(boards, RecordingDeadLetters(), event, schedule, state) == [("score-events-0", 3), ("score-events-0", 4)]
    assert state.banned == {"eve": WITHOUT_END}, "the ban settled, the unban did not"
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 51, "ann": 1}, "the board that did not fail took the unban"
    boards.failing_from = {}
    redelivery = kafka_event(*event["records"]["score-events-0"][3:])
    assert run(boards, RecordingDeadLetters(), redelivery, schedule, state) == []
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 51, "ann": 1} and state.banned == {}
    assert boards.on(Window.DAILY, "2026-11-05") == {"eve": 51}


def test_when_the_state_cannot_be_written_the_partition_is_redelivered_from_its_first_action() -> None:
    boards, state = InMemoryBoards(), CountingState(fail_writes=True)
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, moderation("eve", ModerationKind.BAN, NOVEMBER)), "eve"),
        keyed(record(0, 2, score("eve", "m2", 1, at=NOVEMBER, received=NOVEMBER)), "eve"),
        keyed(record(1, 0, score("ann", "m1", 5, at=NOVEMBER)), "ann"),
    )
    failed, tally = process(boards, RecordingDeadLetters(), event, MONTHLY_ONLY, state)
    assert failed == [("score-events-0", 1), ("score-events-0", 2)]
    assert tally.failed == 2
    state.fail_writes = False
    redelivery = kafka_event(*event["records"]["score-events-0"][1:])
    assert run(boards, RecordingDeadLetters(), redelivery, MONTHLY_ONLY, state) == []
    assert state.banned == {"eve": WITHOUT_END}
    assert boards.hidden[NOV] == {"eve": 51} and boards.on(Window.MONTHLY, "2026-11") == {"ann": 5}


def test_a_damaged_moderation_record_is_dead_lettered_like_a_damaged_score() -> None:
    boards, letters = InMemoryBoards(), RecordingDeadLetters()
    good = moderation("eve", ModerationKind.BAN, NOVEMBER)
    damaged = good.replace(b'"action":"ban"', b'"action":"banish"')
    no_board = moderation("eve", ModerationKind.RESET, NOVEMBER, window="monthly", period="2026-13")
    event = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 50, at=NOVEMBER)), "eve"),
        keyed(record(0, 1, damaged), "eve"),
        keyed(record(0, 2, no_board), "eve"),
    )
    failed, tally = process(boards, letters, event, MONTHLY_ONLY)
    assert failed == [] and tally.dead_lettered == 2
    assert [letter.offset for letter in letters.letters] == [1, 2]
    assert "'action'" in letters.letters[0].reason and "cannot exist" in letters.letters[1].reason
    assert boards.on(Window.MONTHLY, "2026-11") == {"eve": 50}, "nothing moved"


def test_with_fewer_bans_than_records_the_batch_reads_every_ban_once() -> None:
    state = CountingState({"p1": WITHOUT_END, "zed": WITHOUT_END})
    event = kafka_event(
        *[keyed(record(0, n, score(f"p{n % 3}", f"m{n}", 1, at=NOVEMBER)), f"p{n % 3}") for n in range(30)]
    )
    boards = InMemoryBoards()
    assert run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY, state) == []
    assert state.asked_every == [30] and state.asked == [], "one read, no player's ban read on its own"
    assert boards.hidden[NOV] == {"p1": 10} and boards.on(Window.MONTHLY, "2026-11") == {"p0": 10, "p2": 10}


def test_with_more_bans_than_records_the_batch_reads_its_keyed_players_bans_once() -> None:
    state = CountingState({f"banned-{n}": WITHOUT_END for n in range(40)} | {"p1": WITHOUT_END})
    event = kafka_event(
        *[keyed(record(0, n, score(f"p{n % 3}", f"m{n}", 1, at=NOVEMBER)), f"p{n % 3}") for n in range(30)]
    )
    boards = InMemoryBoards()
    assert run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY, state) == []
    assert state.asked_every == [30] and state.asked == [{"p0", "p1", "p2"}]
    assert boards.hidden[NOV] == {"p1": 10} and boards.on(Window.MONTHLY, "2026-11") == {"p0": 10, "p2": 10}


def test_a_ban_counts_as_a_change_of_the_boards_it_moved_a_player_on() -> None:
    applier = ScoreApplier(InMemoryBoards(), RecordingDeadLetters(), BoardSchedule((Window.MONTHLY,)))
    first = applier.begin()
    scored = ScoreEvent(event_id_for("m", "eve"), "m", "eve", 5, NOVEMBER, NOVEMBER)
    first.submit("p-0", "p-0", [(0, scored, NOVEMBER)])
    first.settle(lambda *_: pytest.fail("no poison"))
    second = applier.begin()
    second.submit("p-0", "p-0", [(1, decode_update(encode_moderation(action(ModerationKind.BAN, NOVEMBER))), -1)])
    second.settle(lambda *_: pytest.fail("no poison"))
    assert second.changes == {NOV: {"eve"}}


def test_a_ban_received_near_the_end_of_time_still_reaches_the_boards_that_exist() -> None:
    last = Window.DAILY.board_at(253_402_300_799_000 - DAY_MS // 2)
    ban = action(ModerationKind.BAN, last.start_ms)
    reached = moderated_boards(BoardSchedule((Window.DAILY,)), ban)
    assert reached[0] == last


def test_a_record_without_its_key_still_finds_its_player_banned() -> None:
    # More bans than records: the batch reads its keyed players' bans, and eve is not among them.
    boards, state = InMemoryBoards(), CountingState({"eve": WITHOUT_END, "zed": WITHOUT_END})
    event = kafka_event(record(0, 0, score("eve", "m1", 5, at=NOVEMBER, received=NOVEMBER)))  # no Kafka key
    assert run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY, state) == []
    assert boards.hidden[NOV] == {"eve": 5} and boards.on(Window.MONTHLY, "2026-11") == {}
    assert state.asked == [{"eve"}]


def test_a_ban_reaches_live_subscribers_as_a_new_top_10() -> None:
    clock, store = FakeClock(), ReferenceBoards()
    queries = LeaderboardQueries(store, tuple(Window), clock=clock)
    registry, memory, transport = FakeRegistry(), FakeMemory(clock), FakeTransport()
    subscriptions = LiveSubscriptions(registry, transport, memory, queries)
    notifier = LiveNotifier(registry, transport, memory, queries, sleep=clock.sleep)
    applier = ScoreApplier(store, RecordingDeadLetters(), BoardSchedule((Window.MONTHLY,)))
    now = clock.now_ms

    def apply(*records: tuple[int, ScoreEvent | ModerationAction]) -> None:
        batch = applier.begin()
        batch.submit("p-0", "p-0", [(offset, item, now) for offset, item in records])
        batch.settle(lambda *_: pytest.fail("no poison"))
        notifier.notify([BoardChange(b, frozenset(players or ())) for b, players in batch.changes.items()])
        clock.now_ms += PUSH_INTERVAL_MS

    apply(
        (0, ScoreEvent(event_id_for("m", "eve"), "m", "eve", 9, now, now)),
        (1, ScoreEvent(event_id_for("m", "ann"), "m", "ann", 4, now, now)),
    )
    assert subscriptions.connect("c1", "10.0.0.1")
    assert subscriptions.subscribe("c1", json.dumps({"action": "subscribe", "window": "monthly"}))
    apply((2, action(ModerationKind.BAN, now)))
    pushed = [json.loads(message) for message in transport.to("c1")]
    assert [entry["user_id"] for entry in pushed[0]["entries"]] == ["eve", "ann"]
    assert pushed[-1]["type"] == "top" and pushed[-1]["entries"] == [{"rank": 1, "user_id": "ann", "points": 4}]


def test_the_period_closer_reads_an_action_as_the_next_record_by_its_receipt_time() -> None:
    value = moderation("eve", ModerationKind.BAN, NOVEMBER)
    next_record = SimpleNamespace(value=value, offset=4, timestamp=0)
    assert _judge(next_record, NOVEMBER - CLOCK_SKEW_MS - 1, 3) is None, "received after the close: settled"
    assert "received before the close" in str(_judge(next_record, NOVEMBER, 3))


class UnreadableState(InMemoryModerationState):
    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        raise StoreUnavailable("moderation state: redis is down")

    def every_ban(self, at_most: int) -> dict[str, int] | None:
        raise StoreUnavailable("moderation state: redis is down")


def test_when_who_is_banned_cannot_be_read_the_whole_batch_fails_before_any_write() -> None:
    boards = InMemoryBoards()
    event = kafka_event(keyed(record(0, 0, score("eve", "m1", 5, at=NOVEMBER)), "eve"))
    with pytest.raises(BatchProcessingError, match="All records failed"):
        run(boards, RecordingDeadLetters(), event, MONTHLY_ONLY, UnreadableState())
    assert boards.calls == []
    two_partitions = kafka_event(
        keyed(record(0, 0, score("eve", "m1", 5, at=NOVEMBER)), "eve"),
        keyed(record(1, 0, score("ann", "m1", 5, at=NOVEMBER)), "ann"),
    )
    processor = ScoreBatchProcessor(boards, RecordingDeadLetters(), MONTHLY_ONLY, UnreadableState())
    with pytest.raises(BatchProcessingError):
        process_partial_response(two_partitions, decode_score_record, processor)
    assert processor.tally.failed == 2 and processor.changes == {} and boards.calls == []
