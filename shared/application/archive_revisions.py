"""Closed boards' archives re-exported when a player is banned or unbanned (docs/MODERATION.md).

The admin function leaves a request in the archive for each ban and unban (`request`). The period
closer's scheduled run takes the requests oldest first (`apply_pending`): for every archived board
of an enabled calendar window, it writes a new revision that leaves out the players banned now,
unless the newest version already does. The base archive and every earlier revision stay as they
were; readers take the newest revision (shared.application.archive_reads).

Each step may run twice: a revision is published with a write that succeeds only where no object
is, and a request is deleted only after all its boards are revised, so a run that died halfway is
finished by the next, which finds the boards already done and skips them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from shared.application.archive import ArchiveStore, archived_periods
from shared.domain.archive import (
    PAGE_SIZE,
    PLAYERS_PER_BUCKET,
    ArchivedEntry,
    Checksum,
    IndexedPlayer,
    Manifest,
    bucket_count_for,
    bucket_of,
    decode_bucket,
    decode_page,
    encode_bucket,
    encode_page,
    manifest_key,
    page_checksum,
    run_prefix,
)
from shared.domain.archive_revisions import (
    REEXPORTS_PENDING_PREFIX,
    Revision,
    decode_revision,
    encode_revision,
    reexport_request_key,
    revision_key,
    revision_number,
    revisions_prefix,
    without_players,
)
from shared.domain.boards import Board, Window
from shared.domain.moderation import ModerationAction, ModerationKind
from shared.domain.record_codec import PoisonRecord, decode_moderation, encode_moderation

# Requests handled per closer run at most; the others wait for the next tick.
REQUESTS_PER_RUN = 20


class ArchiveMissing(RuntimeError):
    """A manifest names an object the archive does not hold; the request stays for the next run."""


def newest_revision(store: ArchiveStore, board: Board) -> Revision | None:
    numbers = [number for key in store.keys(revisions_prefix(board)) if (number := revision_number(board, key))]
    if not numbers:
        return None
    data = store.get(revision_key(board, max(numbers)))
    return None if data is None else decode_revision(data)


def current_manifest(store: ArchiveStore, board: Board) -> Manifest | None:
    """The manifest readers use: the newest revision's, else the base one's; None when not archived."""
    base = store.get(manifest_key(board))
    if base is None:
        return None
    revision = newest_revision(store, board)
    return Manifest.from_json(base) if revision is None else revision.manifest


@dataclass(frozen=True, slots=True)
class RevisionOutcome:
    board: Board
    user_id: str
    revision: int
    total: int

    def as_dict(self) -> dict[str, object]:
        return {
            "window": self.board.window.value,
            "period": self.board.period,
            "user_id": self.user_id,
            "revision": self.revision,
            "total": self.total,
        }


@dataclass
class ArchiveReviser:
    store: ArchiveStore
    windows: tuple[Window, ...]
    clock: Callable[[], int]
    new_run_id: Callable[[], str]
    page_size: int = PAGE_SIZE
    players_per_bucket: int = PLAYERS_PER_BUCKET
    requests_per_run: int = REQUESTS_PER_RUN

    def request(self, action: ModerationAction) -> None:
        """Ask for the archives to follow a ban or unban (a reset changes no closed board's archive)."""
        if action.kind is ModerationKind.RESET:
            return
        self.store.put(reexport_request_key(action), encode_moderation(action), content_type="application/json")

    def apply_pending(self) -> list[RevisionOutcome]:
        outcomes: list[RevisionOutcome] = []
        pending = sorted(self.store.keys(REEXPORTS_PENDING_PREFIX))[: self.requests_per_run]
        for key in pending:
            data = self.store.get(key)
            action = None if data is None else _request_action(data)
            if action is not None:
                outcomes.extend(self.apply(action))
            self.store.delete([key])  # done, or never applicable: written by no admin function
        return outcomes

    def apply(self, action: ModerationAction) -> list[RevisionOutcome]:
        """Every archived board revised to follow the action, where it changes anything."""
        hide = action.kind is ModerationKind.BAN
        outcomes = []
        for window in self.windows:
            if window is Window.ALLTIME:
                continue  # never closed, never archived
            for period in archived_periods(self.store, window):
                outcome = self.revise(Board(window, period), action.user_id, hide=hide)
                if outcome is not None:
                    outcomes.append(outcome)
        return outcomes

    def revise(self, board: Board, user_id: str, *, hide: bool) -> RevisionOutcome | None:
        base_data = self.store.get(manifest_key(board))
        if base_data is None:
            return None
        base = Manifest.from_json(base_data)
        newest = newest_revision(self.store, board)
        hidden = newest.hidden if newest is not None else frozenset()
        target = hidden | {user_id} if hide else hidden - {user_id}
        if target == hidden or (hide and not self._holds(base, user_id)):
            return None
        number = (newest.number if newest is not None else 0) + 1
        manifest = self._write(base, target)
        published = self.store.put_new(
            revision_key(board, number),
            encode_revision(Revision(manifest, number, target)),
            content_type="application/json",
        )
        if not published:  # another run published this revision first; the next run looks again
            self.store.delete(list(self.store.keys(run_prefix(board, manifest.run_id))))
            return None
        return RevisionOutcome(board, user_id, number, manifest.total)

    def _holds(self, base: Manifest, user_id: str) -> bool:
        data = self.store.get(base.bucket_key(base.bucket_of(user_id)))
        if data is None:
            raise ArchiveMissing(f"the archive of {base.window} {base.period} misses its index bucket")
        return user_id in decode_bucket(data)

    def _base_entries(self, base: Manifest) -> Iterator[ArchivedEntry]:
        for page in range(base.page_count):
            data = self.store.get(base.page_key(page))
            if data is None:
                raise ArchiveMissing(f"the archive of {base.window} {base.period} misses {base.page_key(page)}")
            base.check_page(page, data)
            yield from decode_page(data)

    def _write(self, base: Manifest, hidden: frozenset[str]) -> Manifest:
        # Buckets are built in memory: a revision is written for the closed boards a banned player is on,
        # far rarer than the closer's exports, which pass over a board once per 2 M players instead.
        kept = list(without_players(self._base_entries(base), hidden))
        draft = Manifest(
            window=base.window,
            period=base.period,
            total=len(kept),
            checksum="",
            created_at_ms=self.clock(),
            run_id=self.new_run_id(),
            page_size=self.page_size,
            bucket_count=bucket_count_for(len(kept), self.players_per_bucket),
        )
        checksum = Checksum()
        checksum.add(kept)
        buckets: dict[int, dict[str, IndexedPlayer]] = {bucket: {} for bucket in range(draft.bucket_count)}
        for position, entry in enumerate(kept):
            buckets[bucket_of(entry.user_id, draft.bucket_count)][entry.user_id] = IndexedPlayer(
                position, entry.points, entry.shared_rank
            )
        page_checksums = []
        for page in range(draft.page_count):
            data = encode_page(kept[page * draft.page_size : (page + 1) * draft.page_size])
            page_checksums.append(page_checksum(data))
            self.store.put(draft.page_key(page), data, content_type="application/gzip")
        for bucket, players in buckets.items():
            self.store.put(draft.bucket_key(bucket), encode_bucket(players), content_type="application/gzip")
        return Manifest(
            window=draft.window,
            period=draft.period,
            total=draft.total,
            checksum=checksum.hexdigest(),
            created_at_ms=draft.created_at_ms,
            run_id=draft.run_id,
            page_size=draft.page_size,
            bucket_count=draft.bucket_count,
            page_checksums=tuple(page_checksums),
        )


def _request_action(data: bytes) -> ModerationAction | None:
    try:
        document = orjson.loads(data)
        return decode_moderation(document) if isinstance(document, dict) else None
    except (orjson.JSONDecodeError, PoisonRecord):
        return None
