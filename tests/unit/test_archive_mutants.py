"""Sharper checks on the archive (shared.domain.archive, shared.application.archive and
archive_reads): the manifest cache and its bound, pages at their edges, a damaged archive named
exactly, and which reader the tiered reader asks, with what."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence

import pytest

from shared.application import archive_reads
from shared.application.archive import BoardChanged, CloseOutcome, CloseStatus, PeriodCloser
from shared.application.archive_reads import ArchiveBoardReader, TieredBoardReader
from shared.application.queries import BoardSlice, Entry, PlayerSlice
from shared.domain.archive import (
    ArchiveDamaged,
    ArchivedEntry,
    ArchiveFormatError,
    IndexedPlayer,
    Manifest,
    bucket_count_for,
    bucket_of,
    checksum_of,
    decode_bucket,
    decode_page,
    encode_bucket,
    encode_page,
    manifest_key,
    pages_spanning,
    period_of_manifest_key,
)
from shared.domain.boards import Board, BoardSchedule, Window
from tests.support.archive_fakes import FixedProgress, ListedBoards, MemoryArchiveStore

pytestmark = [pytest.mark.unit, pytest.mark.archive]

NOW_MS = 1_796_205_600_000  # 2026-12-02T10:00:00Z
CLOSED = Board(Window.DAILY, "2026-11-20")
OPEN = Window.DAILY.current(NOW_MS)
SCHEDULE = BoardSchedule((Window.DAILY,))


class CountingStore(MemoryArchiveStore):
    def __init__(self) -> None:
        super().__init__()
        self.keys_read: list[str] = []

    def get(self, key: str) -> bytes | None:
        self.keys_read.append(key)
        return super().get(key)


def archive(store: MemoryArchiveStore, board: Board, points: Sequence[int], page_size: int = 2) -> Manifest:
    """A board's archive written by hand, `page_size` entries a page, one bucket."""
    entries = [
        ArchivedEntry(f"p{n}", value, 1 + sum(other > value for other in points)) for n, value in enumerate(points)
    ]
    manifest = Manifest(board.window, board.period, len(entries), "-", 0, "run1", page_size=page_size)
    for page in range(manifest.page_count):
        chunk = entries[page * page_size : (page + 1) * page_size]
        store.put(manifest.page_key(page), encode_page(chunk), content_type="application/gzip")
    players = {entry.user_id: IndexedPlayer(n, entry.points, entry.shared_rank) for n, entry in enumerate(entries)}
    store.put(manifest.bucket_key(0), encode_bucket(players), content_type="application/gzip")
    store.put(manifest_key(board), manifest.to_json(), content_type="application/json")
    return manifest


def test_a_manifest_is_read_once_and_the_cache_drops_the_least_recently_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_reads, "MANIFESTS_CACHED", 2)
    store = CountingStore()
    a, b, c = (Board(Window.DAILY, f"2026-11-0{n}") for n in (1, 2, 3))
    for board in (a, b, c):
        archive(store, board, [3, 2, 1])
    reader = ArchiveBoardReader(store)

    def manifests_read(*boards: Board) -> int:
        store.keys_read.clear()
        for board in boards:
            assert reader.manifest(board) is not None
        return len(store.keys_read)

    assert manifests_read(a, b) == 2
    assert manifests_read(a, b) == 0  # both cached: the bound holds two
    assert manifests_read(a, c) == 1  # c evicts b, the least recently used
    assert manifests_read(a, c) == 0
    assert manifests_read(b) == 1


def test_a_page_of_a_board_without_archive_is_empty_at_its_offset() -> None:
    assert ArchiveBoardReader(MemoryArchiveStore()).page(CLOSED, 7, 10, count_ahead=False) == BoardSlice(
        total=0, first_index=7, entries=()
    )


def test_a_page_at_the_last_entry_holds_it_and_one_past_the_end_reads_no_page() -> None:
    store = CountingStore()
    archive(store, CLOSED, [5, 4, 3])
    reader = ArchiveBoardReader(store)
    assert reader.page(CLOSED, 2, 10, count_ahead=True).entries == (Entry("p2", 3),)
    store.keys_read.clear()
    past = reader.page(CLOSED, 3, 10, count_ahead=False)
    assert (past.total, past.entries, store.keys_read) == (3, (), [])


def test_the_neighbourhood_of_the_first_and_last_players_stays_on_the_board() -> None:
    store = MemoryArchiveStore()
    archive(store, CLOSED, [9, 7, 5, 3])  # two full pages of two
    reader = ArchiveBoardReader(store)
    first = reader.around(CLOSED, "p0", 1, count_ahead=False)
    last = reader.around(CLOSED, "p3", 1, count_ahead=False)
    assert first is not None and last is not None
    assert (first.neighbourhood.first_index, [e.user_id for e in first.neighbourhood.entries]) == (0, ["p0", "p1"])
    assert (last.neighbourhood.first_index, [e.user_id for e in last.neighbourhood.entries]) == (2, ["p2", "p3"])


def test_a_damaged_archive_names_the_object_it_misses() -> None:
    store = MemoryArchiveStore()
    manifest = archive(store, CLOSED, [9, 7, 5])
    store.delete([manifest.page_key(1)])
    with pytest.raises(ArchiveDamaged) as missing_page:
        ArchiveBoardReader(store).page(CLOSED, 0, 10, count_ahead=False)
    assert str(missing_page.value) == f"the archive of daily 2026-11-20 misses {manifest.page_key(1)}"
    store.delete([manifest.bucket_key(0)])
    with pytest.raises(ArchiveDamaged) as missing_bucket:
        ArchiveBoardReader(store).around(CLOSED, "p0", 1, count_ahead=False)
    assert str(missing_bucket.value) == f"the archive of daily 2026-11-20 misses {manifest.bucket_key(0)}"


class RecordingHot:
    """Redis as the tiered reader sees it: answers what it is given, notes each question."""

    def __init__(self, page: BoardSlice, around: PlayerSlice | None = None, existing: set[Board] | None = None) -> None:
        self.answer_page, self.answer_around, self.answer_existing = page, around, existing or set()
        self.asked: list[tuple[object, ...]] = []

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        self.asked.append(("page", board, offset, limit, count_ahead))
        return self.answer_page

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        self.asked.append(("around", board, user_id, neighbours, count_ahead))
        return self.answer_around

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        self.asked.append(("existing", list(boards)))
        return self.answer_existing


def tiered(hot: RecordingHot, store: MemoryArchiveStore) -> TieredBoardReader:
    return TieredBoardReader(hot, ArchiveBoardReader(store), SCHEDULE, lambda: NOW_MS)  # type: ignore[arg-type]


ONE_HOT = BoardSlice(total=1, first_index=0, entries=(Entry("hot", 1),))
NONE_HOT = BoardSlice(total=0, first_index=4, entries=(), final=True)


def test_redis_is_asked_exactly_what_was_asked_and_a_board_it_holds_is_served_from_it() -> None:
    store = MemoryArchiveStore()
    archive(store, CLOSED, [9, 7])
    hot = RecordingHot(ONE_HOT)
    reader = tiered(hot, store)
    assert reader.page(CLOSED, 0, 5, count_ahead=True) is ONE_HOT  # one player in Redis: not the archive
    found = PlayerSlice(index=0, neighbourhood=ONE_HOT)
    hot.answer_around = found
    assert reader.around(OPEN, "hot", 2, count_ahead=True) is found
    assert hot.asked == [("page", CLOSED, 0, 5, True), ("around", OPEN, "hot", 2, True)]


def test_a_closed_board_redis_dropped_is_served_from_its_archive_when_archived() -> None:
    store = MemoryArchiveStore()
    archive(store, CLOSED, [9])  # one player
    other = Board(Window.DAILY, "2026-11-19")  # closed, never archived
    reader = tiered(RecordingHot(NONE_HOT), store)
    archived = reader.page(CLOSED, 0, 5, count_ahead=True)
    assert (archived.total, archived.entries, archived.players_ahead) == (1, (Entry("p0", 9),), 0)
    assert reader.page(other, 4, 5, count_ahead=False) is NONE_HOT
    around = reader.around(CLOSED, "p0", 1, count_ahead=True)
    assert around is not None and around.neighbourhood.players_ahead == 0


def test_existing_asks_the_archive_only_for_closed_boards_redis_does_not_hold() -> None:
    store = CountingStore()
    archive(store, CLOSED, [9])
    dropped = Board(Window.DAILY, "2026-11-19")
    archive(store, dropped, [1])
    hot = RecordingHot(NONE_HOT, existing={CLOSED})
    store.keys_read.clear()
    store.listings = 0
    assert tiered(hot, store).existing([CLOSED, dropped, OPEN]) == {CLOSED, dropped}
    assert hot.asked == [("existing", [CLOSED, dropped, OPEN])]
    assert (store.keys_read, store.listings) == ([], 1)  # one listing of the window, no manifest read
    store.listings = 0
    assert tiered(hot, store).existing([CLOSED, OPEN]) == {CLOSED}
    assert store.listings == 0  # nothing closed outside Redis: the archive is not asked


def test_the_tiered_reader_lists_the_archived_periods() -> None:
    store = MemoryArchiveStore()
    archive(store, CLOSED, [9])
    archive(store, Board(Window.DAILY, "2026-11-19"), [1])
    assert tiered(RecordingHot(NONE_HOT), store).archived(Window.DAILY) == ["2026-11-19", "2026-11-20"]


def test_a_close_outcome_reads_as_its_answer() -> None:
    assert CloseOutcome(CLOSED, CloseStatus.ARCHIVED, 3).as_dict() == {
        "window": "daily",
        "period": "2026-11-20",
        "status": "archived",
        "total": 3,
    }
    behind = CloseOutcome(CLOSED, CloseStatus.UPDATER_BEHIND, 0, ("p-1", "p-2"), expires_at_ms=5)
    assert behind.as_dict() == {
        "window": "daily",
        "period": "2026-11-20",
        "status": "updater_behind",
        "total": 0,
        "partitions_behind": ["p-1", "p-2"],
        "redis_expires_at_ms": 5,
    }


def test_only_the_windows_json_manifests_name_a_period() -> None:
    assert period_of_manifest_key(Window.DAILY, "manifests/daily/2026-11-20.json") == "2026-11-20"
    assert period_of_manifest_key(Window.DAILY, "manifests/daily/2026-11-20.tmp") is None
    assert period_of_manifest_key(Window.DAILY, "manifests/weekly/2026-W47.json") is None


def test_the_pages_spanning_positions_start_at_the_first_ones_page() -> None:
    assert pages_spanning(2_500, 3_100, 1_000) == range(2, 4)


DAY_MS = 86_400_000


def days_back(count: int) -> list[Board]:
    return [Window.DAILY.board_at(NOW_MS - back * DAY_MS) for back in range(1, count + 1)]


@pytest.mark.parametrize(
    ("schedule", "looked_at"),
    [
        # retention + 2 periods back; a board kept for good: as many as a 14-day retention
        (BoardSchedule((Window.DAILY,), retention_ms={Window.DAILY: 3 * DAY_MS}), 5),
        (BoardSchedule((Window.DAILY,)), 16),
        (BoardSchedule((Window.ALLTIME, Window.DAILY), retention_ms={Window.DAILY: 3 * DAY_MS}), 5),
    ],
)
def test_a_tick_looks_back_over_the_retention_and_two_periods_more(schedule: BoardSchedule, looked_at: int) -> None:
    days = days_back(20)
    boards = ListedBoards({board: [Entry("ann", 1)] for board in days})
    service = PeriodCloser(
        export=boards,
        store=MemoryArchiveStore(),
        progress=FixedProgress(),
        schedule=schedule,
        clock=lambda: NOW_MS,
        new_run_id=lambda: "run",
        boards_per_run=100,
    )
    archived = [outcome.board for outcome in service.close_due() if outcome.status is CloseStatus.ARCHIVED]
    assert archived == sorted(days[:looked_at], key=lambda board: board.start_ms)


def test_unreadable_archive_objects_say_which_kind() -> None:
    with pytest.raises(ArchiveFormatError, match=r"^unreadable manifest: "):
        Manifest.from_json(b"{}")
    with pytest.raises(ArchiveFormatError, match=r"^unreadable rank page: "):
        decode_page(b"not gzip")
    with pytest.raises(ArchiveFormatError, match=r"^unreadable index bucket: "):
        decode_bucket(b"not gzip")


class TypedStore(MemoryArchiveStore):
    """Notes the content type each object was written with."""

    def __init__(self) -> None:
        super().__init__()
        self.content_types: dict[str, str] = {}

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.content_types[key] = content_type
        super().put(key, data, content_type=content_type)

    def put_new(self, key: str, data: bytes, *, content_type: str) -> bool:
        self.content_types[key] = content_type
        return super().put_new(key, data, content_type=content_type)


def one_closer(
    boards: ListedBoards, store: MemoryArchiveStore, now_ms: int = NOW_MS, **options: object
) -> PeriodCloser:
    return PeriodCloser(
        export=boards,
        store=store,
        progress=options.pop("progress", FixedProgress()),  # type: ignore[arg-type]
        schedule=SCHEDULE,
        clock=lambda: now_ms,
        new_run_id=lambda: "run7",
        **options,  # type: ignore[arg-type]
    )


def test_each_close_outcome_names_its_board_and_an_archive_names_its_run_and_types() -> None:
    five = [Entry(f"p{n}", 10 - n) for n in range(5)]
    store = TypedStore()
    service = one_closer(ListedBoards({CLOSED: five}), store, players_per_bucket=2, page_size=2)
    assert service.close(OPEN) == CloseOutcome(OPEN, CloseStatus.STILL_OPEN)
    empty = Board(Window.DAILY, "2026-11-19")
    assert service.close(empty) == CloseOutcome(empty, CloseStatus.NOT_IN_REDIS)
    behind = one_closer(ListedBoards({CLOSED: five}), store, progress=FixedProgress(["p-1"]))
    assert behind.close(CLOSED) == CloseOutcome(CLOSED, CloseStatus.UPDATER_BEHIND, 5, ("p-1",))
    closes_at = CLOSED.closes_at_ms(SCHEDULE.grace_of(Window.DAILY))
    assert closes_at is not None
    at_the_close = one_closer(ListedBoards({CLOSED: five}), store, closes_at, players_per_bucket=2, page_size=2)
    assert at_the_close.close(CLOSED) == CloseOutcome(
        CLOSED, CloseStatus.ARCHIVED, 5, expires_at_ms=at_the_close.hot_until_ms(CLOSED)
    )
    # Already archived: the expiry is set again, in case the run that archived it died before setting it.
    assert service.close(CLOSED) == CloseOutcome(
        CLOSED, CloseStatus.ALREADY_ARCHIVED, expires_at_ms=service.hot_until_ms(CLOSED)
    )
    manifest = Manifest.from_json(store.objects[manifest_key(CLOSED)])
    assert (manifest.run_id, manifest.bucket_count, manifest.page_count) == ("run7", 3, 3)
    assert store.content_types == {
        manifest_key(CLOSED): "application/json",
        **{manifest.page_key(n): "application/gzip" for n in range(3)},
        **{manifest.bucket_key(n): "application/gzip" for n in range(3)},
    }


def test_a_bucket_count_covers_every_player_and_is_at_least_one() -> None:
    assert [bucket_count_for(total, 2) for total in (0, 1, 2, 3, 4, 5)] == [1, 1, 1, 2, 2, 3]


def test_archive_formats_are_pinned_so_an_old_archive_stays_readable() -> None:
    # Written once, read for years: the bucket hash, the checksum line and the packing must not drift.
    assert [bucket_of(user, 1_000_003) for user in ("ann", "bob", "é")] == [106100, 890155, 969813]
    assert checksum_of([ArchivedEntry("ann", 5, 1)]) == hashlib.sha256(b'["ann", 5, 1]\n').hexdigest()
    packed = encode_page([ArchivedEntry("é", 5, 1)])
    assert packed[4:8] == bytes(4)  # gzip mtime 0: the same content always gives the same bytes
    assert gzip.decompress(packed) == '[["é",5,1]]'.encode()
    manifest = Manifest(Window.DAILY, "2026-11-20", 3, "c", 1, "run", page_size=2)
    assert (
        manifest.to_json()
        == json.dumps(
            {
                "bucket_count": 1,
                "checksum": "c",
                "created_at_ms": 1,
                "format_version": 1,
                "page_count": 2,
                "page_size": 2,
                "period": "2026-11-20",
                "run_id": "run",
                "total": 3,
                "window": "daily",
            }
        ).encode()
    )


@pytest.mark.parametrize("retention_ms", [{Window.DAILY: 0}, {}])
def test_a_window_kept_for_good_is_looked_back_on_like_a_14_day_one(retention_ms: dict[Window, int]) -> None:
    boards = ListedBoards({board: [Entry("ann", 1)] for board in days_back(20)})
    service = PeriodCloser(
        export=boards,
        store=MemoryArchiveStore(),
        progress=FixedProgress(),
        schedule=BoardSchedule((Window.DAILY,), retention_ms=retention_ms),
        clock=lambda: NOW_MS,
        new_run_id=lambda: "run",
        boards_per_run=100,
    )
    assert sum(outcome.status is CloseStatus.ARCHIVED for outcome in service.close_due()) == 16


class DeleteCounting(MemoryArchiveStore):
    def __init__(self) -> None:
        super().__init__()
        self.deletes: list[int] = []

    def delete(self, keys: Sequence[str]) -> None:
        self.deletes.append(len(keys))
        super().delete(keys)


def test_abandoned_runs_are_deleted_whole_at_most_1000_keys_a_call() -> None:
    store = DeleteCounting()
    for n in range(2_500):
        store.put(f"boards/daily/2026-11-20/old-run/pages/{n:06d}.json.gz", b"", content_type="application/gzip")
    one_closer(ListedBoards({CLOSED: [Entry("ann", 1)]}), store).close(CLOSED)
    assert [key for key in store.objects if "/old-run/" in key] == []
    assert store.deletes == [1_000, 1_000, 500]


class Shrinking(ListedBoards):
    def size(self, board: Board) -> int:
        return super().size(board) + 1


def test_a_board_that_shrank_during_the_export_says_by_how_much() -> None:
    with pytest.raises(BoardChanged) as changed:
        one_closer(Shrinking({CLOSED: [Entry("ann", 1)]}), MemoryArchiveStore()).close(CLOSED)
    assert str(changed.value) == f"{CLOSED.key} held 2 players when the export began and 1 at its end"


def test_a_monthly_window_kept_for_good_looks_back_on_whole_periods_only() -> None:
    months = [Board(Window.MONTHLY, period) for period in ("2026-11", "2026-10", "2026-09", "2026-08")]
    service = PeriodCloser(
        export=ListedBoards({board: [Entry("ann", 1)] for board in months}),
        store=MemoryArchiveStore(),
        progress=FixedProgress(),
        schedule=BoardSchedule((Window.MONTHLY,)),
        clock=lambda: NOW_MS,
        new_run_id=lambda: "run",
        boards_per_run=100,
    )
    # 14 days // a month = 0, + 2: the two latest closed months (November is in its 72 h grace still),
    # not a third for the fraction.
    archived = [outcome.board for outcome in service.close_due() if outcome.status is CloseStatus.ARCHIVED]
    assert archived == [months[2], months[1]]
