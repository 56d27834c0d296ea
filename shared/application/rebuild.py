"""Rebuilding one board without downtime: into a shadow, verified, then swapped in atomically.

`BoardRebuilder` fills the board's shadow (its own sorted set, watermarks and remembered ids, all in
the board's Redis Cluster slot) from one of two sources, and only then swaps it in:

- **archive**: a closed period's pages, in rank order. The restored board is read back from Redis
  and must match the manifest's count and checksum. The board alone is swapped: the live watermarks
  already describe what the archive holds.
- **replay**: the score topic read again from a little before the period's start, through the same
  routing and apply script as the updater (the apply is idempotent per offset and event id, so
  starting early costs only reading). The live updater keeps running. The swap is one script that
  swaps board, watermarks and remembered ids together, and only if the shadow has applied, on every
  partition, at least up to the offset the live watermarks name; otherwise it changes nothing and
  the replay reads on. So no record the live board had is lost, and none is applied twice: a record
  the shadow applied beyond the live watermark is at or below the swapped-in watermark, so the
  updater skips it. Moderation actions on the topic are replayed too, tagged from who is banned now
  (read, never written: _BansReadOnly), so the hidden set is swapped with the board.

A run holds a lock (only one rebuild of a board at a time), stops before its deadline, and leaves
its progress beside the shadow: the next run resumes it. docs/ARCHIVE.md tells why and how big.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.application.apply import (
    ApplyResult,
    DeadLetter,
    DecodedRecord,
    PendingScore,
    ScoreApplier,
)
from shared.application.archive import ArchiveStore, PeriodCloser
from shared.application.archive_revisions import newest_revision
from shared.application.moderation_apply import ModerationStateStore
from shared.application.queries import Entry
from shared.domain.archive import (
    ArchiveDamaged,
    ArchivedEntry,
    ArchiveFormatError,
    Checksum,
    Manifest,
    decode_page,
    manifest_key,
)
from shared.domain.boards import Board, BoardSchedule
from shared.domain.record_codec import PoisonRecord

# Records received this long before a period's start may still count on it (an event may be dated
# up to 5 minutes after its receipt); the replay starts this far back. Earlier only costs reading.
REPLAY_LEAD_MS = 3_600_000
# A board restored after its hot retention has passed stays in Redis this long (the archive answers anyway).
RESTORED_MIN_KEEP_MS = 86_400_000
# Players per ZREVRANGE when the restored shadow is read back for its checksum.
READ_BACK_CHUNK = 5_000
# The lock outlives the run's own deadline by this much, so a run cannot outlive its lock.
LOCK_MARGIN_MS = 60_000


class RebuildSource(StrEnum):
    ARCHIVE = "archive"
    REPLAY = "replay"


class RebuildStatus(StrEnum):
    SWAPPED = "swapped"
    """The shadow was verified and is now the board."""
    INCOMPLETE = "incomplete"
    """The run reached its deadline; its progress is kept and the next run resumes it."""
    ALREADY_RUNNING = "already_running"
    """Another run holds the board's rebuild lock; nothing was done."""


class NoArchive(LookupError):
    """The board has no manifest, so nothing to restore from."""


class ReplayGap(RuntimeError):
    """Kafka no longer holds records the replay needs (its retention dropped them)."""


class ShadowBoard(Protocol):
    """A board's rebuild shadow and its lock (Redis in production). Failures are StoreUnavailable."""

    def lock(self, board: Board, token: str, ttl_ms: int) -> bool:
        """Take the board's rebuild lock for `ttl_ms`; False when another run holds it."""
        ...

    def unlock(self, board: Board, token: str) -> None: ...

    def progress(self, board: Board) -> dict[str, str]: ...

    def save_progress(self, board: Board, fields: Mapping[str, str]) -> None: ...

    def discard(self, board: Board) -> None:
        """Drop the shadow, its hidden set, watermarks, remembered ids and progress; the live board is untouched."""
        ...

    def add(self, board: Board, scores: Sequence[tuple[str, int]], progress: Mapping[str, str]) -> None:
        """Add members with their raw scores to the shadow, then record progress, in one round trip."""
        ...

    def size(self, board: Board) -> int: ...

    def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
        """The shadow in the board's order, best first."""
        ...

    def swap_replayed(self, board: Board, token: str) -> str | None:
        """Swap board, hidden set, watermarks and remembered ids in if the shadow is not behind the live watermarks;
        None once swapped, else which partition it is behind on."""
        ...

    def swap_restored(self, board: Board, token: str, expires_at_ms: int) -> None: ...


class ShadowWriter(Protocol):
    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
        into_shadow: bool = False,
    ) -> ApplyResult: ...


class ReplayReader(Protocol):
    def read(self) -> tuple[dict[tuple[str, str], list[DecodedRecord]], bool]:
        """The next records, by (partition, its watermark name) in offset order, and whether this read
        reached the end of every partition."""
        ...

    def positions(self) -> dict[str, int]:
        """By watermark name: the offset of the next record to read."""
        ...

    def close(self) -> None: ...


class ReplaySource(Protocol):
    def open(self, from_ms: int, positions: Mapping[str, int]) -> ReplayReader:
        """A reader of every partition: from `positions` (by watermark name) where given, else from the
        first record written at or after `from_ms` (or earlier, never later)."""
        ...


@dataclass(frozen=True, slots=True)
class RebuildOutcome:
    board: Board
    source: RebuildSource
    status: RebuildStatus
    players: int = 0
    records_read: int = 0
    swap_attempts: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "window": self.board.window.value,
            "period": self.board.period,
            "source": self.source.value,
            "status": self.status.value,
            "players": self.players,
        }
        if self.source is RebuildSource.REPLAY:
            answer["records_read"] = self.records_read
            answer["swap_attempts"] = self.swap_attempts
        if self.detail:
            answer["detail"] = self.detail
        return answer


class _OnlyThisBoard:
    """The updater's BoardWriter, narrowed to one board's shadow: every other board is left alone."""

    def __init__(self, writer: ShadowWriter, board: Board) -> None:
        self._writer = writer
        self._board = board

    def apply(
        self,
        board: Board,
        partition: str,
        scores: list[PendingScore],
        *,
        unscoped_partition: str = "",
        expires_at_ms: int | None = None,
    ) -> ApplyResult:
        if board != self._board:
            return ApplyResult(0)
        return self._writer.apply(board, partition, scores, expires_at_ms=expires_at_ms, into_shadow=True)


class _DroppedLetters:
    """Poison records were dead-lettered by the live updater already; the replay skips them."""

    def send(self, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
        return []


class _BansReadOnly:
    """Who is banned, for a replay: the live state read from the store, never written to it.

    The live updater owns the store; a replay writing the state its old actions left could undo a
    later action (an unban). The replay follows its own actions in memory instead, so the records
    after a player's last replayed action are tagged as that action left the player, as the live
    updater tagged them. docs/ARCHIVE.md argues why this gives the live board and hidden set."""

    def __init__(self, store: ModerationStateStore) -> None:
        self._store = store
        self._replayed: dict[str, int | None] = {}

    def banned_until(self, players: Collection[str]) -> dict[str, int]:
        unseen = [player for player in players if player not in self._replayed]
        banned = self._store.banned_until(unseen) if unseen else {}
        for player in players:
            until = self._replayed.get(player)
            if until is not None:
                banned[player] = until
        return banned

    def every_ban(self, at_most: int) -> None:
        """Never all at once: the replay's own actions are laid over the live state player by player."""
        return None

    def record(self, states: Mapping[str, int | None]) -> None:
        self._replayed.update(states)


def _players(records: Mapping[tuple[str, str], list[DecodedRecord]]) -> set[str]:
    """Whose bans a replayed batch reads up front, in one call."""
    return {event.user_id for batch in records.values() for _, event, _ in batch if not isinstance(event, PoisonRecord)}


def _skipped_letter(partition: str, offset: int, error: PoisonRecord) -> DeadLetter:
    return DeadLetter("", partition, 0, offset, None, None, None, str(error))


@dataclass
class BoardRebuilder:
    shadow: ShadowBoard
    writer: ShadowWriter
    archive: ArchiveStore
    replay: ReplaySource
    schedule: BoardSchedule
    closer: PeriodCloser
    """Says when a restored board leaves Redis (its hot retention), as after its close."""
    clock: Callable[[], int]
    new_token: Callable[[], str]
    bans: ModerationStateStore
    """Who is banned (the live updater's state): read by a replay, never written."""
    monotonic: Callable[[], float] = time.monotonic
    get_threads: int = 8
    """Archive pages fetched at once during a restore: a GET waits on S3 far longer than its page takes to add."""

    def rebuild(
        self, board: Board, source: RebuildSource | None, seconds: float, *, restart: bool = False
    ) -> RebuildOutcome:
        """Rebuild the board from `source` (None: its archive when it has one, else a replay), within
        `seconds`. `restart` drops a previous run's shadow instead of resuming it."""
        if source is None:
            source = (
                RebuildSource.ARCHIVE if self.archive.get(manifest_key(board)) is not None else RebuildSource.REPLAY
            )
        deadline = self.monotonic() + seconds
        token = self.new_token()
        if not self.shadow.lock(board, token, int(seconds * 1000) + LOCK_MARGIN_MS):
            return RebuildOutcome(board, source, RebuildStatus.ALREADY_RUNNING)
        try:
            if source is RebuildSource.ARCHIVE:
                return self._restore(board, token, deadline, restart)
            return self._replay(board, token, deadline, restart)
        finally:
            self.shadow.unlock(board, token)

    def _resume_or_start(self, board: Board, origin: str, restart: bool) -> dict[str, str]:
        progress = self.shadow.progress(board)
        if restart or progress.get("origin") != origin:
            # Another source's shadow, or one the operator asked to drop: start afresh.
            self.shadow.discard(board)
            progress = {"origin": origin}
            self.shadow.save_progress(board, progress)
        return progress

    # -- from the archive ---------------------------------------------------------------------

    def _restore(self, board: Board, token: str, deadline: float, restart: bool) -> RebuildOutcome:
        data = self.archive.get(manifest_key(board))
        if data is None:
            raise NoArchive(f"{board.window} {board.period} has no archive ({manifest_key(board)} not found)")
        try:
            manifest = Manifest.from_json(data)
        except ArchiveFormatError as error:
            raise ArchiveDamaged(board, f"has an unreadable manifest {manifest_key(board)}: {error}") from None
        try:
            # The newest revision (a ban after the close left its player out) is what readers serve.
            revision = newest_revision(self.archive, board)
        except ArchiveFormatError as error:
            raise ArchiveDamaged(board, f"has an unreadable revision manifest: {error}") from None
        if revision is not None:
            manifest = revision.manifest
        progress = self._resume_or_start(board, f"archive:{manifest.run_id}", restart)
        page = int(progress.get("page", "0"))
        carry = _Carry.parse(progress.get("carry", ""))
        # Pages are fetched `get_threads` at a time ahead of the one being added, in order.
        with ThreadPoolExecutor(self.get_threads, thread_name_prefix="archive-get") as pool:
            ahead: deque[Future[list[ArchivedEntry]]] = deque()
            following = page
            try:
                while page < manifest.page_count:
                    if self.monotonic() >= deadline:
                        return RebuildOutcome(
                            board,
                            RebuildSource.ARCHIVE,
                            RebuildStatus.INCOMPLETE,
                            detail=f"{page} of {manifest.page_count} pages",
                        )
                    while following < manifest.page_count and len(ahead) < 2 * self.get_threads:
                        ahead.append(pool.submit(self._page, manifest, following))
                        following += 1
                    try:
                        scores = carry.scores(board, ahead.popleft().result())
                    except ArchiveDamaged:
                        self.shadow.discard(board)
                        raise
                    page += 1
                    self.shadow.add(board, scores, {"page": str(page), "carry": carry.text()})
            finally:
                for waiting in ahead:
                    waiting.cancel()
        self._verify(board, manifest)
        expires_at = max(self.closer.hot_until_ms(board), self.clock() + RESTORED_MIN_KEEP_MS)
        self.shadow.swap_restored(board, token, expires_at)
        return RebuildOutcome(board, RebuildSource.ARCHIVE, RebuildStatus.SWAPPED, players=manifest.total)

    def _page(self, manifest: Manifest, number: int) -> list[ArchivedEntry]:
        key = manifest.page_key(number)
        data = self.archive.get(key)
        if data is None:
            raise ArchiveDamaged(manifest.board, f"misses {key} (page {number})")
        manifest.check_page(number, data)
        try:
            entries = decode_page(data)
        except (ArchiveFormatError, ValueError, TypeError) as error:
            raise ArchiveDamaged(manifest.board, f"holds an unreadable object {key}: {error}") from None
        expected = min(manifest.page_size, manifest.total - number * manifest.page_size)
        if len(entries) != expected:
            raise ArchiveDamaged(
                manifest.board, f"holds {len(entries)} entries in {key} (page {number}), its manifest says {expected}"
            )
        return entries

    def _verify(self, board: Board, manifest: Manifest) -> None:
        size = self.shadow.size(board)
        checksum = Checksum()
        position, shared_rank, previous = 0, 0, None
        for chunk in self.shadow.chunks(board, READ_BACK_CHUNK):
            for entry in chunk:
                position += 1
                if entry.points != previous:
                    shared_rank, previous = position, entry.points
                checksum.add((ArchivedEntry(entry.user_id, entry.points, shared_rank),))
        problem = ""
        if size != manifest.total or position != manifest.total:
            problem = f"the restored board holds {size} players, the manifest says {manifest.total}"
        elif checksum.hexdigest() != manifest.checksum:
            problem = "the restored board's checksum differs from the manifest's"
        if problem:
            self.shadow.discard(board)
            raise ArchiveDamaged(manifest.board, f"does not match its manifest: {problem}; the live board is unchanged")

    # -- by replay ----------------------------------------------------------------------------

    def _replay(self, board: Board, token: str, deadline: float, restart: bool) -> RebuildOutcome:
        if board.window not in self.schedule.windows:
            raise ValueError(f"the {board.window} window is not enabled, so nothing routes records to its boards")
        progress = self._resume_or_start(board, "replay", restart)
        positions = {name[len("at:") :]: int(offset) for name, offset in progress.items() if name.startswith("at:")}
        applier = ScoreApplier(
            _OnlyThisBoard(self.writer, board), _DroppedLetters(), self.schedule, moderation=_BansReadOnly(self.bans)
        )
        reader = self.replay.open(board.start_ms - REPLAY_LEAD_MS, positions)
        read = attempts = 0
        behind = "nothing read yet"
        try:
            while self.monotonic() < deadline:
                records, at_end = reader.read()
                read += sum(len(batch) for batch in records.values())
                batch = applier.begin(_players(records))
                for (partition, watermark), decoded in records.items():
                    batch.submit(partition, watermark, decoded)
                for settlement in batch.settle(_skipped_letter).values():
                    if settlement.failure is not None:
                        raise settlement.failure
                self.shadow.save_progress(
                    board, {f"at:{name}": str(offset) for name, offset in reader.positions().items()}
                )
                if not at_end:
                    continue
                attempts += 1
                players = self.shadow.size(board)
                still_behind = self.shadow.swap_replayed(board, token)
                if still_behind is None:
                    return RebuildOutcome(board, RebuildSource.REPLAY, RebuildStatus.SWAPPED, players, read, attempts)
                behind = still_behind
        finally:
            reader.close()
        return RebuildOutcome(
            board, RebuildSource.REPLAY, RebuildStatus.INCOMPLETE, 0, read, attempts, detail=f"behind on {behind}"
        )


@dataclass
class _Carry:
    """Where the previous page left off, to give equal points the same order as in the archive.

    The archive keeps each player's points and position, not the instant they reached the total.
    Redis orders equal scores by member, descending; so along a run of equal points a new tick starts
    whenever the next member would not sort below the previous one. The restored board has the
    archive's order exactly, and the few ticks this needs never exceed the ones the board had."""

    points: int = -1
    user_id: str = ""
    tick: int = 0

    @classmethod
    def parse(cls, text: str) -> _Carry:
        if not text:
            return cls()
        points, tick, user_id = text.split(":", 2)
        return cls(int(points), user_id, int(tick))

    def text(self) -> str:
        return f"{self.points}:{self.tick}:{self.user_id}"

    def scores(self, board: Board, entries: list[ArchivedEntry]) -> list[tuple[str, int]]:
        codec = board.codec
        scores = []
        for entry in entries:
            if entry.points == self.points:
                if entry.user_id.encode() >= self.user_id.encode():
                    self.tick += 1
            elif self.points >= 0 and entry.points > self.points:
                raise ArchiveDamaged(board, f"lists {entry.user_id!r} out of rank order")
            else:
                self.tick = 0
            if self.tick > codec.max_ticks:
                raise ArchiveDamaged(board, f"ties more players at {entry.points} points than a board can order")
            try:
                scores.append((entry.user_id, codec.encode(entry.points, self.tick)))
            except ValueError as error:
                raise ArchiveDamaged(board, f"lists {entry.user_id!r} with {error}") from None
            self.points, self.user_id = entry.points, entry.user_id
        return scores
