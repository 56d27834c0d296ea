"""The apply script's moderation tags against the reference store: the real script on a real
redis-server, driven by hypothesis, must agree with shared.application.reference_board after every
step, on every board's shown set and hidden set and on every call's counts.

Each step is a batch as the updater sends it: per partition, per board, one call in offset order.
Records are scores (shown or hidden), bans, unbans and resets of six players, sent to a drawn set of
three boards of both codecs; some repeat an earlier record's id at a new offset (a retried POST or a
re-published action), some boards' calls fail and their partition is sent again from its first
offset, and earlier offsets are redelivered on their own. Points come small or at the largest totals,
so moves between the sets add up past the cap.

A second check needs no model: for each board and player, the points shown plus hidden are the sum
of the points their applied scores brought since their last applied reset, cut at the largest total,
whenever the player is in only one of the two sets.

Reproducible like tests/integration/test_score_model.py (derandomized, no example database).
MODERATION_MODEL_EXAMPLES raises the example count.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from local_runtime.servers import RedisServer
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import applied_offsets_key, hidden_scores_key
from shared.adapters.redis_client import RedisClient
from shared.application.apply import ApplyResult, PendingScore
from shared.application.moderation_apply import BAN, HIDDEN_SCORE, RESET, SCORE, UNBAN
from shared.application.reference_board import ReferenceBoards
from shared.domain.boards import Board, Window
from shared.domain.events import event_id_for
from tests.support.model_runs import ExercisedCounts, flushed_client, model_phases, own_redis_server, run_model

pytestmark = [pytest.mark.model, pytest.mark.moderation]

MODEL_DB = 14
EXAMPLES = int(os.environ.get("MODERATION_MODEL_EXAMPLES", "40"))
STEPS = 12
PHASES = model_phases("MODERATION_MODEL_SHRINK")

BOARDS = (
    Window.DAILY.parse_period("2019-05-17"),
    Window.MONTHLY.parse_period("2019-05"),
    Window.ALLTIME.parse_period("all"),
)
USERS = ("ann", "bob", "cat", "dan", "eve", "Zoë")
PARTITIONS = ("model/score-events-0", "model/score-events-1")
PARTITION_OF = {user: PARTITIONS[index % len(PARTITIONS)] for index, user in enumerate(USERS)}
MINUTES_CAP = Window.ALLTIME.codec.max_points
TAGS = (SCORE, SCORE, HIDDEN_SCORE, BAN, UNBAN, RESET)

points = st.one_of(st.integers(1, 5), st.sampled_from([MINUTES_CAP // 2, MINUTES_CAP]))


@dataclass(frozen=True)
class Item:
    """A record's content: a score (shown or hidden) or an action, on some of the boards."""

    item_id: bytes
    user: str
    tag: str
    points: int
    at_ms: int
    boards: tuple[Board, ...]


@dataclass(frozen=True)
class Record:
    offset: int
    item: Item


@dataclass
class Exercised(ExercisedCounts):
    examples: int = 0
    calls: int = 0
    failed_calls: int = 0
    bans_moving: int = 0  # bans applied to a board where the player held points
    unbans_moving: int = 0
    resets: int = 0
    hidden_scores: int = 0
    both_sets: int = 0  # checks where a player held points shown and hidden at once
    untouched_boards: int = 0  # action-only calls to a board holding no one
    lone_unbans_moving: int = 0  # a call of unbans alone moving a player back
    actions_redelivered_unremembered: int = 0  # at or below the watermark, not remembered: skipped


class ModerationModel(RuleBasedStateMachine):
    def __init__(self, client: RedisClient, exercised: Exercised) -> None:
        super().__init__()
        client.flushdb()
        self.client = client
        self.exercised = exercised
        exercised.examples += 1
        self.writer = RedisBoardWriter(client)
        self.model = ReferenceBoards()
        self.log: dict[str, list[Record]] = defaultdict(list)
        self.items: list[Item] = []
        # The brute force: per board, per player, the points applied since their last reset.
        self.sums: dict[Board, dict[str, int]] = {board: {} for board in BOARDS}

    @rule(data=st.data())
    def a_batch(self, data: st.DataObject) -> None:
        count = data.draw(st.integers(1, 8), label="records")
        batch: list[Record] = []
        for _ in range(count):
            again = bool(self.items) and data.draw(st.integers(0, 4), label="repeat an earlier id") == 0
            item = data.draw(st.sampled_from(self.items), label="earlier") if again else self._new_item(data)
            partition = PARTITION_OF[item.user]
            batch.append(Record(self._next_offset(partition), item))
            self.log[partition].append(batch[-1])
        failing = data.draw(st.sets(st.sampled_from([(b, p) for b in BOARDS for p in PARTITIONS]), max_size=2))
        for partition in PARTITIONS:
            records = [record for record in batch if PARTITION_OF[record.item.user] == partition]
            if records and self._deliver(partition, records, failing):
                self._deliver(partition, records, set())

    @rule(data=st.data())
    def an_action_alone(self, data: st.DataObject) -> None:
        """A ban or unban in a batch of its own, to every board: a board may hold its player only hidden."""
        hidden = sorted({user for board in BOARDS for user in self.model.of(board).hidden})
        unban_hidden: bool = data.draw(st.booleans(), label="unban a hidden player")
        if hidden and unban_hidden:
            user, tag = data.draw(st.sampled_from(hidden), label="user"), UNBAN
        else:
            user = data.draw(st.sampled_from(USERS), label="user")
            tag = data.draw(st.sampled_from((BAN, UNBAN)), label="tag")
        self._send_alone(Item(self._fresh_id(user), user, tag, 0, 0, BOARDS))

    @rule(data=st.data())
    def everyone_shown_banned(self, data: st.DataObject) -> None:
        """Ban, alone, each player a board shows: the board's sorted set is then gone, its hidden set stays."""
        board = data.draw(st.sampled_from(BOARDS), label="board")
        for user in sorted(self.model.of(board).scores):
            self._send_alone(Item(self._fresh_id(user), user, BAN, 0, 0, (board,)))

    @rule(data=st.data())
    def a_redelivery(self, data: st.DataObject) -> None:
        sent = [partition for partition in PARTITIONS if self.log[partition]]
        if not sent:
            return
        partition = data.draw(st.sampled_from(sent), label="partition")
        start = data.draw(st.integers(0, len(self.log[partition]) - 1), label="from record")
        self._deliver(partition, self.log[partition][start:], set())

    def _fresh_id(self, user: str) -> bytes:
        return bytes.fromhex(event_id_for(f"item-{len(self.items)}", user))

    def _send_alone(self, item: Item) -> None:
        """`item` in a batch of its own."""
        self.items.append(item)
        partition = PARTITION_OF[item.user]
        self.log[partition].append(Record(self._next_offset(partition), item))
        self._deliver(partition, self.log[partition][-1:], set())

    def _new_item(self, data: st.DataObject) -> Item:
        tag = data.draw(st.sampled_from(TAGS), label="tag")
        user = data.draw(st.sampled_from(USERS), label="user")
        is_score = tag in (SCORE, HIDDEN_SCORE)
        item = Item(
            item_id=self._fresh_id(user),
            user=user,
            tag=tag,
            points=data.draw(points, label="points") if is_score else 0,
            at_ms=data.draw(st.integers(0, 180_000), label="ms into the period") if is_score else 0,
            boards=tuple(data.draw(st.sets(st.sampled_from(BOARDS), min_size=1), label="boards")),
        )
        self.items.append(item)
        return item

    def _next_offset(self, partition: str) -> int:
        return self.log[partition][-1].offset + 1 if self.log[partition] else 0

    def _deliver(self, partition: str, records: list[Record], failing: set[tuple[Board, str]]) -> bool:
        failed = False
        produced_at = time.time_ns() // 1_000_000
        for board in BOARDS:
            pending = [
                PendingScore(
                    record.offset,
                    record.item.item_id,
                    record.item.user,
                    record.item.points,
                    board.ticks_at(board.start_ms + record.item.at_ms),
                    produced_at,
                    record.item.tag,
                )
                for record in records
                if board in record.item.boards
            ]
            if not pending:
                continue
            if (board, partition) in failing:
                failed = True
                self.exercised.failed_calls += 1
                continue
            before = self.model.of(board)
            holds_no_one = not before.scores and not before.hidden
            moving = {
                (score.offset, score.tag)
                for score in pending
                if (score.tag == BAN and score.user_id in before.scores)
                or (score.tag == UNBAN and score.user_id in before.hidden)
            }
            real = self.writer.apply(board, partition, pending)
            expected = self.model.apply(board, partition, pending)
            assert counts(real) == counts(expected), f"apply on {board.key} from {partition}: {pending}"
            self._follow_sums(board, pending, expected)
            self.exercised.calls += 1
            self.exercised.bans_moving += sum(1 for _, tag in moving if tag == BAN)
            self.exercised.unbans_moving += sum(1 for _, tag in moving if tag == UNBAN)
            self.exercised.resets += sum(1 for score in pending if score.tag == RESET)
            self.exercised.hidden_scores += sum(1 for score in pending if score.tag == HIDDEN_SCORE)
            self.exercised.untouched_boards += holds_no_one and all(s.tag in (BAN, UNBAN, RESET) for s in pending)
            lone_unbans = bool(moving) and all(score.tag == UNBAN for score in pending)
            self.exercised.lone_unbans_moving += lone_unbans
            upto = before.watermarks.get(partition, -1)
            remembered = before.remembered.get(partition, set())
            self.exercised.actions_redelivered_unremembered += sum(
                1
                for score in pending
                if score.tag in (BAN, UNBAN, RESET) and score.offset <= upto and score.event_id not in remembered
            )
        return failed

    def _follow_sums(self, board: Board, pending: list[PendingScore], result: ApplyResult) -> None:
        """The brute force: which of the records the call applied (not skipped), in order."""
        skipped = set(result.redelivered) | set(result.duplicates) | set(result.unverified)
        if result.applied == 0:
            return
        sums = self.sums[board]
        for score in pending:
            if score.offset in skipped:
                continue
            if score.tag in (SCORE, HIDDEN_SCORE):
                sums[score.user_id] = sums.get(score.user_id, 0) + score.points
            elif score.tag == RESET:
                sums.pop(score.user_id, None)

    @invariant()
    def each_board_and_hidden_set_equals_the_model(self) -> None:
        for board in BOARDS:
            model = self.model.of(board)
            assert self._held(board.key) == model.scores, f"{board.key} shown"
            assert self._held(hidden_scores_key(board)) == model.hidden, f"{board.key} hidden"

    @invariant()
    def the_points_shown_and_hidden_are_the_capped_sum_since_the_last_reset(self) -> None:
        for board in BOARDS:
            model, codec = self.model.of(board), board.codec
            for user in USERS:
                shown, hidden = model.scores.get(user), model.hidden.get(user)
                if shown is not None and hidden is not None:
                    self.exercised.both_sets += 1
                    continue
                held = shown if shown is not None else hidden
                total = min(codec.max_points, self.sums[board].get(user, 0))
                assert (0 if held is None else codec.points_of(held)) == total, f"{user} on {board.key}"

    def _held(self, key: str) -> dict[str, int]:
        held: list[tuple[bytes, float]] = self.client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
        return {member.decode(): int(score) for member, score in held}


def counts(result: ApplyResult) -> tuple[object, ...]:
    return (result.applied, result.resets, result.redelivered, result.duplicates, result.unverified, result.capped)


@pytest.fixture(scope="module")
def model_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with own_redis_server(tmp_path_factory.mktemp("moderation-model-redis")) as server:
        yield server


@pytest.fixture
def model_client(model_redis: RedisServer) -> Iterator[RedisClient]:
    with flushed_client(model_redis, MODEL_DB) as client:
        yield client


def test_the_apply_script_moderates_as_the_reference_store(
    model_client: RedisClient, capsys: pytest.CaptureFixture[str]
) -> None:
    exercised = Exercised()
    run_model(
        # Hypothesis seeds the derandomized examples from this line's source: changing it changes the examples.
        lambda: ModerationModel(model_client, exercised),
        examples=EXAMPLES,
        steps=STEPS,
        phases=PHASES,
    )
    with capsys.disabled():
        print(f"\nmoderation model: {exercised}")
    # Rarely drawn; test_an_action_sent_to_a_board_before_it_existed_... below holds that case on its own.
    never = exercised.never_reached("actions_redelivered_unremembered")
    assert not never, f"the examples never went through: {', '.join(never)}"


# --- the two edges the examples rarely reach, on the real script -------------------------------------

BOARD = BOARDS[1]
PARTITION = PARTITIONS[0]


def pending(offset: int, name: str, user: str, tag: str, points: int = 0) -> PendingScore:
    return PendingScore(
        offset, bytes.fromhex(event_id_for(name, user)), user, points, 0, time.time_ns() // 1_000_000, tag
    )


def test_an_unban_alone_restores_a_player_on_a_board_that_shows_no_one(model_client: RedisClient) -> None:
    writer = RedisBoardWriter(model_client)
    writer.apply(BOARD, PARTITION, [pending(0, "s", "eve", SCORE, 9), pending(1, "b", "eve", BAN)])
    assert model_client.exists(BOARD.key) == 0, "the board's only player is hidden"
    result = writer.apply(BOARD, PARTITION, [pending(2, "u", "eve", UNBAN)])
    assert result.applied == 1
    assert model_client.zscore(BOARD.key, "eve") is not None and model_client.exists(hidden_scores_key(BOARD)) == 0


def test_an_action_sent_to_a_board_before_it_existed_is_skipped_on_redelivery_not_taken_for_a_restart(
    model_client: RedisClient,
) -> None:
    writer = RedisBoardWriter(model_client)
    ban = pending(0, "b", "eve", BAN)
    assert writer.apply(BOARD, PARTITION, [ban]).applied == 0
    assert model_client.exists(BOARD.key, applied_offsets_key(BOARD)) == 0, "nothing written"
    writer.apply(BOARD, PARTITION, [pending(1, "s", "ann", SCORE, 3)])  # a later record creates the board
    again = writer.apply(BOARD, PARTITION, [ban, pending(1, "s", "ann", SCORE, 3)])
    assert (again.applied, again.resets, again.redelivered) == (0, 0, (0, 1))
