"""Reading archived boards, and one reader over Redis and the archive.

`ArchiveBoardReader` answers from a board's archive as `RedisBoardReader` answers from Redis: a
page is one or two page GETs, a player one bucket GET plus one or two page GETs, after the
manifest. A manifest never changes, but a ban adds a newer revision of the archive
(shared.application.archive_revisions): with a clock, a board's manifest is kept MANIFEST_KEPT_MS
and then looked up again, revisions included. `TieredBoardReader` serves a board
from Redis while Redis holds it, and a closed one from its archive after, so `LeaderboardQueries`
reads every period the same way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NoReturn

from shared.application.archive import ArchiveStore, archived_periods
from shared.application.archive_revisions import current_manifest
from shared.application.queries import BoardReader, BoardSlice, Entry, PlayerSlice
from shared.domain.archive import (
    ArchiveDamaged,
    ArchivedEntry,
    ArchiveFormatError,
    IndexedPlayer,
    Manifest,
    decode_bucket,
    decode_page,
    manifest_key,
    pages_spanning,
)
from shared.domain.boards import Board, BoardSchedule, Window

MANIFESTS_CACHED = 1_024
# A window's archived periods change only when the closer writes a manifest (at most a few times a
# day): the listing is kept this long, so the periods route costs one S3 LIST a minute, not one a call.
LISTING_KEPT_MS = 60_000
# How long a board's manifest is used before its revisions are listed again (one S3 LIST per board a minute).
MANIFEST_KEPT_MS = 60_000


class ArchiveBoardReader:
    def __init__(self, store: ArchiveStore, clock: Callable[[], int] | None = None) -> None:
        """`clock` (epoch ms) keeps each window's listing for LISTING_KEPT_MS; None lists every time."""
        self._store = store
        self._manifests: OrderedDict[Board, tuple[int | None, Manifest]] = OrderedDict()
        self._clock = clock
        self._listings: dict[Window, tuple[int, list[str]]] = {}

    def manifest(self, board: Board) -> Manifest | None:
        now = None if self._clock is None else self._clock()
        cached = self._manifests.get(board)
        if cached is not None and (cached[0] is None or now is None or now < cached[0]):
            self._manifests.move_to_end(board)
            return cached[1]
        try:
            manifest = current_manifest(self._store, board)
        except ArchiveFormatError as error:
            raise ArchiveDamaged(board, f"has an unreadable manifest {manifest_key(board)}: {error}") from None
        if manifest is None:
            return None  # not cached: the closer may write it any moment
        self._manifests[board] = (None if now is None else now + MANIFEST_KEPT_MS, manifest)
        self._manifests.move_to_end(board)
        if len(self._manifests) > MANIFESTS_CACHED:
            self._manifests.popitem(last=False)
        return manifest

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        manifest = self.manifest(board)
        if manifest is None:
            return BoardSlice(total=0, first_index=offset, entries=())
        last = min(offset + limit, manifest.total) - 1
        entries = self._entries(manifest, offset, last) if offset <= last else []
        return _slice(manifest, offset, entries, count_ahead)

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        manifest = self.manifest(board)
        if manifest is None:
            return None
        key = manifest.bucket_key(manifest.bucket_of(user_id))
        bucket = self._store.get(key)
        if bucket is None:
            raise_missing(manifest, key)
        player = _bucket(manifest, key, bucket).get(user_id)
        if player is None:
            return None
        first = max(0, player.position - neighbours)
        last = min(manifest.total - 1, player.position + neighbours)
        neighbourhood = _slice(manifest, first, self._entries(manifest, first, last), count_ahead)
        return PlayerSlice(index=player.position, neighbourhood=neighbourhood)

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        return {board for board in boards if self.manifest(board) is not None}

    def archived(self, window: Window) -> list[str]:
        if self._clock is None:
            return archived_periods(self._store, window)
        now = self._clock()
        kept = self._listings.get(window)
        if kept is not None and now < kept[0]:
            return kept[1]
        periods = archived_periods(self._store, window)
        self._listings[window] = (now + LISTING_KEPT_MS, periods)
        return periods

    def _entries(self, manifest: Manifest, first: int, last: int) -> list[ArchivedEntry]:
        found: list[ArchivedEntry] = []
        for page in pages_spanning(first, last, manifest.page_size):
            key = manifest.page_key(page)
            data = self._store.get(key)
            if data is None:
                raise_missing(manifest, key)
            manifest.check_page(page, data)
            start = page * manifest.page_size
            found.extend(_page(manifest, key, data)[max(first - start, 0) : last - start + 1])
        return found


def raise_missing(manifest: Manifest, key: str) -> NoReturn:
    raise ArchiveDamaged(manifest.board, f"misses {key}")


def _page(manifest: Manifest, key: str, data: bytes) -> list[ArchivedEntry]:
    try:
        return decode_page(data)
    except (ArchiveFormatError, ValueError, TypeError) as error:
        raise ArchiveDamaged(manifest.board, f"holds an unreadable object {key}: {error}") from None


def _bucket(manifest: Manifest, key: str, data: bytes) -> dict[str, IndexedPlayer]:
    try:
        return decode_bucket(data)
    except (ArchiveFormatError, ValueError, TypeError, AttributeError) as error:
        raise ArchiveDamaged(manifest.board, f"holds an unreadable object {key}: {error}") from None


def _slice(manifest: Manifest, first: int, entries: list[ArchivedEntry], count_ahead: bool) -> BoardSlice:
    return BoardSlice(
        total=manifest.total,
        first_index=first,
        entries=tuple(Entry(entry.user_id, entry.points) for entry in entries),
        players_ahead=entries[0].shared_rank - 1 if count_ahead and entries else None,
        final=True,
    )


class TieredBoardReader:
    """Redis first; a board that has closed and that Redis no longer holds, from the archive."""

    def __init__(
        self, hot: BoardReader, archive: ArchiveBoardReader, schedule: BoardSchedule, clock: Callable[[], int]
    ) -> None:
        self._hot = hot
        self._archive = archive
        self._schedule = schedule
        self._clock = clock

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        found = self._hot.page(board, offset, limit, count_ahead=count_ahead)
        if found.total > 0 or not self._closed(board):
            return found
        archived = self._archive.page(board, offset, limit, count_ahead=count_ahead)
        return archived if archived.total > 0 else found

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        found = self._hot.around(board, user_id, neighbours, count_ahead=count_ahead)
        if found is not None or not self._closed(board) or self._hot.existing([board]):
            return found
        return self._archive.around(board, user_id, neighbours, count_ahead=count_ahead)

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        """Redis's boards, and the closed ones the archive lists: one listing per window, not a
        manifest read per board."""
        hot = self._hot.existing(boards)
        closed = [board for board in boards if board not in hot and self._closed(board)]
        archived = {Board(window, period) for window in {b.window for b in closed} for period in self.archived(window)}
        return hot | {board for board in closed if board in archived}

    def archived(self, window: Window) -> list[str]:
        return self._archive.archived(window)

    def _closed(self, board: Board) -> bool:
        return not board.is_open_at(self._clock(), self._schedule.grace_of(board.window))
