"""Applying score records to the boards: exactly-once effect over at-least-once delivery.

Each record counts on the boards BoardSchedule.boards_for names (one per enabled window whose
period holds its `occurred_at` and was still open when it was received). ScoreApplier takes each
partition's decoded records in offset order and sends them as atomic Lua calls per slice of a
(board, partition), each of which also advances that board's watermark for the partition and
remembers the event ids it applied. A record whose offset is at or below a board's watermark was
applied to it before and is skipped there; so is an event the board remembers (a retried POST that
reached Kafka twice). Watermarks are named by the caller per Kafka cluster, and a partition whose
offsets restarted within one cluster (a recreated topic) is detected by the apply script and reported.

Within a partition, everything from the first record that could not be applied to one of its
boards (or dead-lettered) onwards is settled as failed, so the transport redelivers it; the boards
that had applied those records skip them by watermark. Reading the transport's batches is
shared/adapters/msk_batch.py's job.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from operator import attrgetter
from typing import Any, NamedTuple, Protocol

import orjson

from shared.application.moderation_apply import (
    ACTION_TAGS,
    HIDDEN_SCORE,
    SCORE,
    BanBook,
    InMemoryModerationState,
    ModerationStateStore,
    moderated_boards,
)
from shared.domain.board_changes import MAX_PLAYERS_PER_BOARD
from shared.domain.boards import DAY_MS, Board, BoardSchedule, Window
from shared.domain.events import ScoreEvent
from shared.domain.moderation import ModerationAction
from shared.domain.record_codec import PoisonRecord

# One record of a partition as ScoreApplier takes it: (offset, the score event or moderation action it
# carries or why it carries none, the record's timestamp or -1 when it has none). A plain tuple: one
# is built per record.
DecodedRecord = tuple[int, ScoreEvent | ModerationAction | PoisonRecord, int]
# Builds the dead letter of a partition's poison record: (partition, offset, why it is poison).
LetterFor = Callable[[str, int, PoisonRecord], "DeadLetter"]

# Records per Lua call: enough to amortise the round trip, few enough that decoding the next
# slice overlaps with Redis running this one.
APPLY_SLICE = 2000
# A batch's partitions are decoded in turns, a run of records from each: every run ends in its own
# calls, so calls of different partitions (sent by different threads) wait at Redis while it runs
# one, and Redis never waits for a thread to wake up and send the next. The first run is small, as
# Redis waits idle until it is decoded; each next run is larger by SLICE_GROWTH, up to APPLY_SLICE,
# so that Redis running one takes about as long as Python decoding the next.
FIRST_APPLY_SLICE = 250
SLICE_GROWTH = 1.5
# Threads (each with its own Redis connection) sending the calls: while Redis runs one call's
# script, another thread packs the next call's arguments.
APPLY_THREADS = 2


_user_id = attrgetter("user_id")

# Event ids are 32 hex digits on the wire and 16 bytes in Redis.
_EVENT_ID_BYTES = 16


class PendingScore(NamedTuple):
    """One score event on its way into one board, in the order the apply script reads its fields."""

    offset: int
    event_id: bytes  # 16 bytes: the binary form of the 32-hex-digit event id
    user_id: str
    points: int
    reached_tick: int  # Board.ticks_at(occurred_at) of the board it goes to
    produced_at_ms: int  # the Kafka record's timestamp; -1 when the record has none
    tag: str = SCORE  # what the record does to the board (shared.application.moderation_apply)


# A PendingScore from its fields in order, without the Python-level __new__ of a NamedTuple: one is
# built per record and board.
new_pending_score = partial(tuple.__new__, PendingScore)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one apply call did with its records (see shared/adapters/lua/apply_scores.lua): how many
    it applied, and the offsets of those it skipped, by reason (usually none)."""

    applied: int
    resets: int = 0  # of the applied: records showing the partition's offsets restarted
    redelivered: tuple[int, ...] = ()  # the same record again: at or below the watermark, event remembered
    duplicates: tuple[int, ...] = ()  # the same event in another record, e.g. a retried POST
    unverified: tuple[int, ...] = ()  # below the watermark, too old to verify: skipped as redelivered
    capped: int = 0  # of the applied: those whose points were cut at the board's largest total
    past_retention: tuple[int, ...] = ()  # the board had expired: nothing written, so none comes back partial

    @property
    def skipped(self) -> int:
        return len(self.redelivered) + len(self.duplicates) + len(self.unverified) + len(self.past_retention)


MAX_INLINE_VALUE_CHARS = 200_000  # keeps a letter under SQS's 256 KiB message limit


@dataclass(frozen=True, slots=True)
class DeadLetter:
    cluster: str  # the Kafka cluster (see msk_batch.kafka_cluster_of); "" when unknown
    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: str | None  # base64, exactly as delivered
    value: str | None  # base64, exactly as delivered
    reason: str

    def body(self) -> str:
        document: dict[str, Any] = {
            "reason": self.reason,
            "cluster": self.cluster,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "key": self.key,
            "value": self.value,
        }
        if self.value is not None and len(self.value) > MAX_INLINE_VALUE_CHARS:
            document["value"] = self.value[:MAX_INLINE_VALUE_CHARS]
            document["value_truncated"] = True
        return orjson.dumps(document).decode()

    def fingerprint(self) -> str:
        """Names this record of this partition incarnation: the same offset after a topic was recreated
        holds another value."""
        digest = hashlib.blake2b(digest_size=16)
        for part in (self.cluster, self.topic, str(self.partition), str(self.offset), self.value or ""):
            digest.update(part.encode())
            digest.update(b"\x00")
        return digest.hexdigest()


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        """Send letters; return the ones that could not be sent."""


class BoardWriter(Protocol):
    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        """`expires_at_ms`: when the board leaves the store (BoardSchedule.expires_at_ms); None: kept."""
        ...


class DeadLetterUnavailable(RuntimeError):
    """A poison record could not be dead-lettered; it is retried instead of being dropped."""


def binary_event_id(event: ScoreEvent) -> bytes:
    try:
        event_id = bytes.fromhex(event.event_id)
    except ValueError:
        raise PoisonRecord("field 'event_id' must be hexadecimal") from None
    if len(event_id) != _EVENT_ID_BYTES:
        raise PoisonRecord(f"field 'event_id' must be {2 * _EVENT_ID_BYTES} hex characters")
    return event_id


class BoardLane(NamedTuple):
    """A board as the per-record loop uses it: its key groups a partition's scores for it, and
    (at - start_ms) // tick_ms is Board.ticks_at(at) for an instant the board holds."""

    board: Board
    key: str
    start_ms: int
    tick_ms: int


class BoardRouter:
    """BoardSchedule.boards_for, answered from memory for the days records keep landing on.

    Every window's periods are whole UTC days, so the boards holding an instant are those of its
    day; and which of them an event still counts on changes only at their closing instants. So
    the schedule is asked once per day and stretch between two closing instants (a handful of
    times a day), not once per record. A day whose boards change within it (the all-time range
    ends mid-day) is answered by the schedule every time.
    """

    MAX_DAYS = 1024  # records from more days than this (a replay of years) start the memory afresh

    def __init__(self, schedule: BoardSchedule) -> None:
        self.schedule = schedule
        self._days: dict[int, _DayRoutes | None] = {}

    def lanes_for(self, occurred_at_ms: int, received_at_ms: int | None) -> tuple[BoardLane, ...]:
        """The boards the event counts on, as lanes."""
        day = occurred_at_ms // DAY_MS
        try:
            routes = self._days[day]
        except KeyError:
            routes = self._learn(day)
        if routes is None:
            return _lanes(self.schedule.boards_for(occurred_at_ms, received_at_ms))
        if received_at_ms is None:
            return routes.by_stretch[0]
        return routes.by_stretch[bisect.bisect_right(routes.closing_instants, received_at_ms)]

    def _learn(self, day: int) -> _DayRoutes | None:
        if len(self._days) >= self.MAX_DAYS:
            self._days.clear()
        first, last = day * DAY_MS, (day + 1) * DAY_MS - 1
        holding = self.schedule.boards_for(first, None)
        routes: _DayRoutes | None = None
        if holding == self.schedule.boards_for(last, None):
            closes = (board.closes_at_ms(self.schedule.grace_of(board.window)) for board in holding)
            instants = sorted({instant for instant in closes if instant is not None})
            stretches = [_lanes(holding)] + [_lanes(self.schedule.boards_for(first, instant)) for instant in instants]
            routes = _DayRoutes(tuple(instants), tuple(stretches))
        self._days[day] = routes
        return routes


def _lanes(boards: Sequence[Board]) -> tuple[BoardLane, ...]:
    return tuple(BoardLane(board, board.key, board.start_ms, board.codec.tick_ms) for board in boards)


class _DayRoutes(NamedTuple):
    closing_instants: tuple[int, ...]  # sorted; before the first, every board holding the day is open
    by_stretch: tuple[tuple[BoardLane, ...], ...]  # [i]: the lanes for a receipt after i closing instants


@dataclass(slots=True)
class BoardUpdates:
    """One window's board updates in a batch: a record applied to (or skipped by) one of its boards."""

    applied: int = 0
    skipped: int = 0
    capped: int = 0  # of the applied: points cut at the board's largest total


@dataclass(slots=True)
class BatchTally:
    """What a batch did, per record (each record once, whatever number of boards it counts on), and
    per window in board updates."""

    applied: int = 0  # applied to at least one of its boards
    redelivered: int = 0  # applied to none: every one of its boards had applied this record before
    duplicates: int = 0  # applied to none: a board had applied its event from another record (a retried POST)
    unverified: int = 0  # skipped by at least one board as too old to verify (possibly applied to others)
    on_no_board: int = 0  # a valid event no enabled board takes: every one closed to it, or out of range
    past_retention: int = 0  # skipped by at least one board that had expired (possibly applied to others)
    dead_lettered: int = 0
    failed: int = 0
    reset_partitions: set[str] = field(default_factory=set)
    board_updates: dict[Window, BoardUpdates] = field(default_factory=dict)

    def add_board(self, window: Window, outcome: BoardSliceOutcome, partition: str) -> None:
        updates = self.board_updates.setdefault(window, BoardUpdates())
        updates.applied += outcome.applied
        updates.skipped += (
            len(outcome.redelivered) + len(outcome.duplicates) + len(outcome.unverified) + len(outcome.past_retention)
        )
        updates.capped += outcome.capped
        if outcome.resets:
            self.reset_partitions.add(partition)

    def add_records(
        self, boards_per_record: dict[int, int], outcomes: Sequence[BoardSliceOutcome], failed_from: int | None
    ) -> None:
        """Classify each record below `failed_from` by what its boards did with it."""
        if failed_from is None and not any(outcome.skipped for outcome in outcomes):
            # The usual batch: every record applied to each of its boards, counted without a loop in Python.
            on_no_board = list(boards_per_record.values()).count(0)
            self.on_no_board += on_no_board
            self.applied += len(boards_per_record) - on_no_board
            return
        skips: dict[int, list[str]] = defaultdict(list)
        for outcome in outcomes:
            for reason, offsets in (
                ("redelivered", outcome.redelivered),
                ("duplicate", outcome.duplicates),
                ("unverified", outcome.unverified),
                ("past_retention", outcome.past_retention),
            ):
                for offset in offsets:
                    skips[offset].append(reason)
        for offset, boards in boards_per_record.items():
            if failed_from is not None and offset >= failed_from:
                continue
            reasons = skips.get(offset, ())
            unverified = "unverified" in reasons  # it may need a replay, whatever its other boards did
            if boards == 0:
                self.on_no_board += 1
            elif len(reasons) < boards:
                self.applied += 1
            elif "duplicate" in reasons and not unverified:
                self.duplicates += 1
            elif "redelivered" in reasons and not unverified:
                self.redelivered += 1
            if unverified:
                self.unverified += 1
            if "past_retention" in reasons:
                self.past_retention += 1


@dataclass(slots=True)
class BoardSliceOutcome:
    """What happened to one partition's records for one board."""

    applied: int = 0
    resets: int = 0
    redelivered: list[int] = field(default_factory=list)
    duplicates: list[int] = field(default_factory=list)
    unverified: list[int] = field(default_factory=list)
    capped: int = 0
    past_retention: list[int] = field(default_factory=list)
    failed_from: int | None = None
    error: BaseException | None = None

    @property
    def skipped(self) -> bool:
        return bool(self.redelivered or self.duplicates or self.unverified or self.past_retention)

    def add(self, result: ApplyResult) -> None:
        self.applied += result.applied
        self.resets += result.resets
        self.redelivered += result.redelivered
        self.duplicates += result.duplicates
        self.unverified += result.unverified
        self.capped += result.capped
        self.past_retention += result.past_retention


class ApplyQueue:
    """Sends the apply calls from background threads, so Python decodes the next slice while Redis
    runs the script on this one, and one thread packs a call's arguments while Redis runs another's.

    Each (partition, board) is given to one thread, so its calls run in the order submitted. Once
    one fails, the later ones for that pair are not sent: their offsets lie above the failure, and
    applying them would move the watermark past records that still need applying.
    """

    def __init__(
        self,
        store: BoardWriter,
        workers: Sequence[ThreadPoolExecutor],
        expires_at_ms: Callable[[Board], int | None] = lambda board: None,
    ) -> None:
        self._store = store
        self._workers = workers
        self._expires_at_ms = expires_at_ms
        self._pending: list[Future[None]] = []
        self._outcomes: dict[str, dict[Board, BoardSliceOutcome]] = defaultdict(dict)
        self._worker_of: dict[tuple[str, Board], ThreadPoolExecutor] = {}
        # The players sent to each board, for the change report; None once over the report's bound.
        self.players: dict[Board, set[str] | None] = {}

    def submit(self, partition: str, watermark: str, board: Board, scores: list[PendingScore]) -> None:
        """Queue one apply call; `watermark` names the partition within its Kafka cluster."""
        players = self.players.setdefault(board, set())
        if players is not None:
            players.update(map(_user_id, scores))
            if len(players) > MAX_PLAYERS_PER_BOARD:
                self.players[board] = None
        # Created here, in the submitting thread: a worker only ever touches its own pairs' outcomes.
        outcome = self._outcomes[partition].setdefault(board, BoardSliceOutcome())
        worker = self._worker_of.get((partition, board))
        if worker is None:
            worker = self._worker_of[(partition, board)] = self._workers[len(self._worker_of) % len(self._workers)]
        self._pending.append(worker.submit(self._apply, outcome, watermark, board, partition, scores))

    def _apply(
        self, outcome: BoardSliceOutcome, watermark: str, board: Board, partition: str, scores: list[PendingScore]
    ) -> None:
        if outcome.error is not None:
            return
        try:
            result = self._store.apply(
                board, watermark, scores, unscoped_partition=partition, expires_at_ms=self._expires_at_ms(board)
            )
        # Any failure (Redis, a cluster slot left uncovered, a lagging replica, or a bug) stops this
        # (board, partition): no later slice may move the watermark past it. The batch is retried from there.
        except Exception as error:
            outcome.failed_from, outcome.error = scores[0].offset, error
            return
        outcome.add(result)

    def finish(self) -> dict[str, dict[Board, BoardSliceOutcome]]:
        for call in self._pending:
            call.result()
        return self._outcomes


@dataclass(slots=True)
class DecodedPartition:
    """One partition's records after decoding: the watermark naming it, the poison among them, and for
    every other record (by offset, in offset order) the number of boards it was sent to."""

    watermark: str
    poison: list[tuple[int, PoisonRecord]] = field(default_factory=list)
    boards_per_record: dict[int, int] = field(default_factory=dict)

    def records_from(self, offset: int) -> int:
        return sum(1 for record in self.boards_per_record if record >= offset) + sum(
            1 for record, _ in self.poison if record >= offset
        )


class PartitionSettlement(NamedTuple):
    """How a partition's records ended: all applied or dead-lettered (failed_from None), or the offset
    from which every record is to be redelivered, and why."""

    failed_from: int | None
    failure: BaseException | None


class ScoreApplier:
    """The boards' side of the updater: owns the threads that send apply calls, and the board router
    that outlives batches. Each batch goes through a BatchApplication from `begin`."""

    def __init__(
        self,
        store: BoardWriter,
        dead_letters: DeadLetterSink,
        schedule: BoardSchedule,
        moderation: ModerationStateStore | None = None,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._router = BoardRouter(schedule)
        self._moderation = moderation if moderation is not None else InMemoryModerationState()
        self._workers = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"board-apply-{n}") for n in range(APPLY_THREADS)
        ]

    def begin(self, players: Iterable[str] | Callable[[], Iterable[str]] = (), *, records: int = 0) -> BatchApplication:
        """A batch of `records` records; `players`: the user ids they are keyed by (or a function
        finding them), whose bans are read at once unless there are so few bans that all are read."""
        return BatchApplication(
            self._store,
            self._dead_letters,
            self._router,
            self._workers,
            BanBook(self._moderation, players, records=records),
        )


class BatchApplication:
    """One batch: `submit` each partition's records (their calls start at once), then `settle` them all."""

    def __init__(
        self,
        store: BoardWriter,
        dead_letters: DeadLetterSink,
        router: BoardRouter,
        workers: Sequence[ThreadPoolExecutor],
        bans: BanBook | None = None,
    ) -> None:
        self._dead_letters = dead_letters
        self._router = router
        self._bans = bans if bans is not None else BanBook(InMemoryModerationState())
        self._queue = ApplyQueue(store, workers, router.schedule.expires_at_ms)
        self._decoded: dict[str, DecodedPartition] = {}
        self.changes: dict[Board, set[str] | None] = {}
        """After settle: the boards that applied records, with the players sent to them (None: too many to list)."""
        self.tally = BatchTally(board_updates={window: BoardUpdates() for window in router.schedule.windows})

    def submit_in_turns(self, partitions: Mapping[str, tuple[str, Iterable[DecodedRecord]]]) -> None:
        """`submit` every partition's records, a run from each in turn (see FIRST_APPLY_SLICE):
        partition -> (watermark, its records in offset order)."""
        turns = [(partition, watermark, iter(records)) for partition, (watermark, records) in partitions.items()]
        run_size = FIRST_APPLY_SLICE
        while turns:
            unfinished = []
            for partition, watermark, records in turns:
                run = list(islice(records, run_size))
                if run:
                    self.submit(partition, watermark, run)
                if len(run) == run_size:
                    unfinished.append((partition, watermark, records))
                run_size = min(APPLY_SLICE, int(run_size * SLICE_GROWTH))
            turns = unfinished

    def submit(self, partition: str, watermark: str, records: Iterable[DecodedRecord]) -> None:
        """Fan one partition's records (in offset order, following any submitted for it before) out to
        their boards; `watermark` names the partition within its Kafka cluster."""
        decoded = self._decoded.get(partition)
        if decoded is None:
            decoded = self._decoded[partition] = DecodedPartition(watermark)
        boards: dict[str, Board] = {}
        by_board: dict[str, list[PendingScore]] = {}  # by board key
        queue = self._queue
        lanes_for = self._router.lanes_for
        bans = self._bans
        # The ban book's sets change in place as actions are taken, never replaced.
        banned, known, every_ban_read = bans.banned, bans.known, bans.complete
        boards_per_record = decoded.boards_per_record
        for offset, event, produced_at in records:
            if type(event) is not ScoreEvent:
                if isinstance(event, PoisonRecord):
                    decoded.poison.append((offset, event))
                elif isinstance(event, ModerationAction):
                    self._submit_action(partition, watermark, offset, event, produced_at, boards, by_board)
                else:
                    raise TypeError(f"not a decoded record: {type(event).__name__}")
                continue
            try:
                event_id = binary_event_id(event)
            except PoisonRecord as error:
                decoded.poison.append((offset, error))
                continue
            _, _, user_id, points, occurred_at, received_at = event
            # Records from before ingest stamped received_at: their Kafka timestamp is the best estimate.
            if received_at is None and produced_at >= 0:
                received_at = produced_at
            # Usually nobody in the batch is banned: one or two lookups.
            hidden = (user_id in banned or (not every_ban_read and user_id not in known)) and bans.hides(
                user_id, received_at
            )
            tag = HIDDEN_SCORE if hidden else SCORE
            lanes = lanes_for(occurred_at, received_at)
            boards_per_record[offset] = len(lanes)
            for board, key, start_ms, tick_ms in lanes:
                scores = by_board.get(key)
                if scores is None:
                    scores = by_board[key] = []
                    boards[key] = board
                scores.append(
                    new_pending_score(
                        (offset, event_id, user_id, points, (occurred_at - start_ms) // tick_ms, produced_at, tag)
                    )
                )
                if len(scores) >= APPLY_SLICE:
                    queue.submit(partition, watermark, board, scores)
                    by_board[key] = []
        for key, scores in by_board.items():
            if scores:
                queue.submit(partition, watermark, boards[key], scores)

    def _submit_action(
        self,
        partition: str,
        watermark: str,
        offset: int,
        action: ModerationAction,
        produced_at: int,
        boards: dict[str, Board],
        by_board: dict[str, list[PendingScore]],
    ) -> None:
        """Send a moderation action, at its place in the partition's order, to every board it touches."""
        decoded = self._decoded[partition]
        try:
            targets = moderated_boards(self._router.schedule, action)
            action_id = bytes.fromhex(action.action_id)
        except (PoisonRecord, ValueError) as error:
            poison = error if isinstance(error, PoisonRecord) else PoisonRecord("field 'action_id' must be hexadecimal")
            decoded.poison.append((offset, poison))
            return
        self._bans.take(partition, offset, action)
        decoded.boards_per_record[offset] = len(targets)
        tag = ACTION_TAGS[action.kind]
        for board in targets:
            key = board.key
            pending = by_board.get(key)
            if pending is None:
                pending = by_board[key] = []
                boards[key] = board
            pending.append(PendingScore(offset, action_id, action.user_id, 0, 0, produced_at, tag))
            if len(pending) == APPLY_SLICE:
                self._queue.submit(partition, watermark, board, pending)
                by_board[key] = []

    def settle(self, letter_for: LetterFor) -> dict[str, PartitionSettlement]:
        """Wait for every apply call, dead-letter the poison below each partition's first failure, and
        say for each submitted partition from which offset (if any) it is to be redelivered."""
        boards = self._queue.finish()
        changed = {board for outcomes in boards.values() for board, outcome in outcomes.items() if outcome.applied}
        self.changes = {board: players for board, players in self._queue.players.items() if board in changed}
        settlements = {
            partition: self._settle(partition, decoded, boards[partition], letter_for)
            for partition, decoded in self._decoded.items()
        }
        return self._settle_bans(settlements)

    def _settle_bans(self, settlements: dict[str, PartitionSettlement]) -> dict[str, PartitionSettlement]:
        """Write who is banned after the actions settled. If that fails, each partition is redelivered
        from its first action, so the redelivery meets the actions again and writes the state then
        (the boards skip them as applied)."""
        states = self._bans.settled_states(
            {partition: settled.failed_from for partition, settled in settlements.items()}
        )
        if not states:
            return settlements
        try:
            self._bans.persist({user: state for by_user in states.values() for user, state in by_user.items()})
        except Exception as error:  # any failure, as for an apply call: the state is written on redelivery
            for partition in states:
                first = self._bans.first_change(partition)
                failed_from = settlements[partition].failed_from
                assert first is not None
                if failed_from is None or first < failed_from:
                    decoded = self._decoded[partition]
                    already = 0 if failed_from is None else decoded.records_from(failed_from)
                    self.tally.failed += decoded.records_from(first) - already
                    settlements[partition] = PartitionSettlement(first, error)
        return settlements

    def _settle(
        self,
        partition: str,
        decoded: DecodedPartition,
        boards: dict[Board, BoardSliceOutcome],
        letter_for: LetterFor,
    ) -> PartitionSettlement:
        failed_from: int | None = None
        failure: BaseException | None = None
        for board, outcome in boards.items():
            self.tally.add_board(board.window, outcome, decoded.watermark)
            if outcome.failed_from is not None and (failed_from is None or outcome.failed_from < failed_from):
                failed_from, failure = outcome.failed_from, outcome.error

        letters = [
            letter_for(partition, offset, error)
            for offset, error in decoded.poison
            if failed_from is None or offset < failed_from
        ]
        unsent = {letter.offset for letter in self._dead_letters.send(letters)}
        if unsent:
            first_unsent = min(unsent)
            if failed_from is None or first_unsent < failed_from:
                failed_from = first_unsent
                failure = DeadLetterUnavailable(f"could not dead-letter {partition} offset {first_unsent}")
        self.tally.dead_lettered += sum(1 for letter in letters if letter.offset not in unsent)
        self.tally.add_records(decoded.boards_per_record, list(boards.values()), failed_from)
        if failed_from is not None:
            self.tally.failed += decoded.records_from(failed_from)
        return PartitionSettlement(failed_from, failure)
