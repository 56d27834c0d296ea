"""Closing periods: a closed board copied from Redis to the archive, then left to expire from Redis.

`PeriodCloser` archives one board, or every board that is due. A board is due once its period
closed to late events (its end plus the window's grace) and the updater applied every record
received before that instant (`UpdaterProgress`); until then it is left alone and reported, and
the next run asks again. The archive is written as pages and index buckets under a prefix of
this run's own, then the manifest, last: a manifest names a complete archive, a run that finds
one does nothing, and a run that died halfway left only objects no manifest names, which the
next complete run deletes. The format is shared.domain.archive; docs/ARCHIVE.md tells why.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from shared.application.queries import Entry
from shared.domain.archive import (
    PAGE_SIZE,
    PLAYERS_PER_BUCKET,
    ArchivedEntry,
    Checksum,
    IndexedPlayer,
    Manifest,
    board_prefix,
    bucket_count_for,
    bucket_of,
    encode_bucket,
    encode_page,
    manifest_key,
    manifests_prefix,
    page_checksum,
    period_of_manifest_key,
    run_prefix,
)
from shared.domain.boards import Board, BoardSchedule, Window

# ZREVRANGE this many members per call: a few ms of Redis time each, so writes to other boards wait little.
EXPORT_CHUNK = 5_000
# Index entries held in memory at once; a larger board is read once more per extra multiple.
INDEX_ENTRIES_IN_MEMORY = 2_000_000
# Boards archived per run at most; the others wait for the next tick.
BOARDS_PER_RUN = 4


class ArchiveStore(Protocol):
    """Objects by key (S3 in production). Failures are ArchiveUnavailable."""

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None when there is none."""
        ...

    def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    def put_new(self, key: str, data: bytes, *, content_type: str) -> bool:
        """Writes the object only if the key holds none, atomically; False when one was there."""
        ...

    def keys(self, prefix: str) -> Iterator[str]: ...

    def delete(self, keys: Sequence[str]) -> None: ...


class BoardExport(Protocol):
    """Reads a board in rank order and ends its time in Redis (Redis in production)."""

    def size(self, board: Board) -> int:
        """Players on the board; 0 when Redis holds no such board."""
        ...

    def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
        """Every entry in the board's order, best first, `chunk` per Redis call."""
        ...

    def expire(self, board: Board, at_ms: int) -> None:
        """The board and its watermarks leave Redis at this instant (at once when it has passed)."""
        ...


class UpdaterProgress(Protocol):
    def behind(self, until_ms: int) -> list[str]:
        """The partitions holding a record received before `until_ms` that the updater has not applied
        yet; empty when it is caught up."""
        ...


class BoardChanged(RuntimeError):
    """The board changed while it was exported; nothing was published and the next run starts over."""


class CloseStatus(StrEnum):
    ARCHIVED = "archived"
    ALREADY_ARCHIVED = "already_archived"
    STILL_OPEN = "still_open"
    UPDATER_BEHIND = "updater_behind"
    NOT_IN_REDIS = "not_in_redis"
    DEFERRED = "deferred"
    """Due, but this run reached its limit of boards; the next one takes it."""


@dataclass(frozen=True, slots=True)
class CloseOutcome:
    board: Board
    status: CloseStatus
    total: int = 0
    behind: tuple[str, ...] = ()
    expires_at_ms: int | None = None

    def as_dict(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "window": self.board.window.value,
            "period": self.board.period,
            "status": self.status.value,
            "total": self.total,
        }
        if self.behind:
            answer["partitions_behind"] = list(self.behind)
        if self.expires_at_ms is not None:
            answer["redis_expires_at_ms"] = self.expires_at_ms
        return answer


@dataclass
class PeriodCloser:
    export: BoardExport
    store: ArchiveStore
    progress: UpdaterProgress
    schedule: BoardSchedule
    clock: Callable[[], int]
    new_run_id: Callable[[], str]
    page_size: int = PAGE_SIZE
    players_per_bucket: int = PLAYERS_PER_BUCKET
    export_chunk: int = EXPORT_CHUNK
    index_entries_in_memory: int = INDEX_ENTRIES_IN_MEMORY
    boards_per_run: int = BOARDS_PER_RUN
    hot_periods: int = 2
    """An archived board stays in Redis until this many periods after it have closed too (the
    window's BOARD_RETENTION_* ends it earlier if shorter)."""
    put_threads: int = 1
    """PUTs in flight at once: a PUT waits on S3 (tens of ms) far longer than it costs to build."""
    lookback: dict[Window, int] = field(default_factory=dict)
    """How many closed periods back a tick looks, per window (default: the window's hot retention + 1)."""

    def close(self, board: Board) -> CloseOutcome:
        """Archive this board if it is due; say why not otherwise."""
        if self.store.get(manifest_key(board)) is not None:
            # Again, as a run that died between its manifest and the expiry left the board without one.
            return CloseOutcome(board, CloseStatus.ALREADY_ARCHIVED, expires_at_ms=self._expire(board))
        closes_at = board.closes_at_ms(self.schedule.grace_of(board.window))
        if closes_at is None or self.clock() < closes_at:
            return CloseOutcome(board, CloseStatus.STILL_OPEN)
        total = self.export.size(board)
        if total == 0:
            return CloseOutcome(board, CloseStatus.NOT_IN_REDIS)
        behind = self.progress.behind(closes_at)
        if behind:
            return CloseOutcome(board, CloseStatus.UPDATER_BEHIND, total, tuple(behind))
        manifest = self._write(board, total)
        if not self.store.put_new(manifest_key(board), manifest.to_json(), content_type="application/json"):
            # Another run published first; readers may hold its manifest, so its objects stay.
            self._delete(list(self.store.keys(run_prefix(board, manifest.run_id))))
            return CloseOutcome(board, CloseStatus.ALREADY_ARCHIVED)
        self._delete_abandoned_runs(board, manifest.run_id)
        return CloseOutcome(board, CloseStatus.ARCHIVED, total, expires_at_ms=self._expire(board))

    def _expire(self, board: Board) -> int:
        expires_at = self.hot_until_ms(board)
        self.export.expire(board, expires_at)
        return expires_at

    def hot_until_ms(self, board: Board) -> int:
        """When an archived board leaves Redis: when the `hot_periods`-th period after it closes, or
        at the end of the window's retention if that comes first."""
        grace = self.schedule.grace_of(board.window)
        later = board
        for _ in range(self.hot_periods):
            later = board.window.board_at(later.end_ms or later.start_ms)
        hot_until = (later.end_ms or later.start_ms) + grace
        retained_until = self.schedule.expires_at_ms(board)
        return hot_until if retained_until is None else min(hot_until, retained_until)

    def close_due(self) -> list[CloseOutcome]:
        """Every enabled calendar window's closed periods not archived yet, oldest first, at most
        `boards_per_run` archived. Boards archived already or absent from Redis are left out of the answer."""
        outcomes: list[CloseOutcome] = []
        archived = 0
        for board in self._closed_boards():
            if archived >= self.boards_per_run:
                outcomes.append(CloseOutcome(board, CloseStatus.DEFERRED))
                continue
            outcome = self.close(board)
            if outcome.status is CloseStatus.ALREADY_ARCHIVED or outcome.status is CloseStatus.NOT_IN_REDIS:
                continue
            archived += outcome.status is CloseStatus.ARCHIVED
            outcomes.append(outcome)
        return outcomes

    def _closed_boards(self) -> Iterable[Board]:
        now = self.clock()
        boards: list[Board] = []
        for window in self.schedule.windows:
            if window is Window.ALLTIME:
                continue
            grace = self.schedule.grace_of(window)
            board: Board | None = window.current(now)
            looked = 0
            while board is not None and looked < self._lookback(window):
                if not board.is_open_at(now, grace):
                    boards.append(board)
                    looked += 1
                board = board.previous()
        return sorted(boards, key=lambda board: board.start_ms)

    def _lookback(self, window: Window) -> int:
        if window in self.lookback:
            return self.lookback[window]
        retention = self.schedule.retention_ms.get(window, 0)
        board = window.current(self.clock())
        length = (board.end_ms or board.start_ms) - board.start_ms
        # A board kept for good (retention 0) is looked for among as many periods as a 14-day one.
        return (retention or 14 * 86_400_000) // max(length, 1) + 2

    def _write(self, board: Board, total: int) -> Manifest:
        manifest = Manifest(
            window=board.window,
            period=board.period,
            total=total,
            checksum="",
            created_at_ms=self.clock(),
            run_id=self.new_run_id(),
            page_size=self.page_size,
            bucket_count=bucket_count_for(total, self.players_per_bucket),
        )
        with _Uploads(self.store, self.put_threads) as uploads:
            checksum, page_checksums = self._write_objects(board, total, manifest, uploads)
        return replace(manifest, checksum=checksum, page_checksums=page_checksums)

    def _write_objects(
        self, board: Board, total: int, manifest: Manifest, uploads: _Uploads
    ) -> tuple[str, tuple[str, ...]]:
        """Every page and bucket, all written when it returns; the checksum of the entries, and each page's."""
        passes = -(-total // self.index_entries_in_memory)
        first_pass_checksum = ""
        page_checksums: list[str] = []

        def put_page(number: int, entries: list[ArchivedEntry]) -> None:
            data = encode_page(entries)
            page_checksums.append(page_checksum(data))
            uploads.put(manifest.page_key(number), data)

        for pass_number in range(passes):
            # Every pass reads the whole board: each must read the same entries as the pages hold.
            checksum = Checksum()
            buckets: dict[int, dict[str, IndexedPlayer]] = {
                bucket: {} for bucket in range(manifest.bucket_count) if bucket % passes == pass_number
            }
            page: list[ArchivedEntry] = []
            position = 0
            for entry in self._ranked(board):
                checksum.add((entry,))
                if pass_number == 0:
                    page.append(entry)
                    if len(page) == self.page_size:
                        put_page(position // self.page_size, page)
                        page = []
                bucket = bucket_of(entry.user_id, manifest.bucket_count)
                if bucket in buckets:
                    if entry.user_id in buckets[bucket]:
                        # Same size, other order: a late record moved a player across two ZREVRANGE calls.
                        raise BoardChanged(f"{board.key} listed {entry.user_id!r} twice during the export")
                    buckets[bucket][entry.user_id] = IndexedPlayer(position, entry.points, entry.shared_rank)
                position += 1
            if position != total:
                raise BoardChanged(f"{board.key} held {total} players when the export began and {position} at its end")
            if pass_number == 0:
                first_pass_checksum = checksum.hexdigest()
            elif checksum.hexdigest() != first_pass_checksum:
                raise BoardChanged(f"{board.key} changed between two passes of the export")
            if page:
                put_page((position - 1) // self.page_size, page)
            for bucket, players in buckets.items():
                uploads.put(manifest.bucket_key(bucket), encode_bucket(players))
        uploads.finish()
        return first_pass_checksum, tuple(page_checksums)

    def _ranked(self, board: Board) -> Iterator[ArchivedEntry]:
        position = 0
        shared_rank = 0
        previous_points: int | None = None
        for chunk in self.export.chunks(board, self.export_chunk):
            for entry in chunk:
                position += 1
                if entry.points != previous_points:
                    shared_rank, previous_points = position, entry.points
                yield ArchivedEntry(entry.user_id, entry.points, shared_rank)

    def _delete_abandoned_runs(self, board: Board, kept_run: str) -> None:
        kept = run_prefix(board, kept_run)
        self._delete([key for key in self.store.keys(board_prefix(board)) if not key.startswith(kept)])

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.store.delete(keys[start : start + 1000])


def archived_periods(store: ArchiveStore, window: Window) -> list[str]:
    """The periods of the window with a manifest, in key order (oldest first for calendar ids)."""
    found = []
    for key in store.keys(manifests_prefix(window)):
        period = period_of_manifest_key(window, key)
        if period is not None:
            found.append(period)
    return found


class _Uploads:
    """The archive's PUTs, `threads` at a time; with 1, each in the caller's thread before it goes on.

    At most a few per thread wait in line, so memory stays bounded; `finish` returns once every PUT
    succeeded, and raises the first failure otherwise. Leaving the block early drops the ones not sent.
    """

    def __init__(self, store: ArchiveStore, threads: int) -> None:
        self._store = store
        self._threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="archive-put") if threads > 1 else None
        self._pending: deque[Future[None]] = deque()

    def put(self, key: str, data: bytes) -> None:
        if self._pool is None:
            self._store.put(key, data, content_type="application/gzip")
            return
        self._pending.append(self._pool.submit(self._store.put, key, data, content_type="application/gzip"))
        while len(self._pending) > 4 * self._threads:
            self._pending.popleft().result()

    def finish(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> _Uploads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
