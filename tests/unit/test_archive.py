"""The archive of closed boards over in-memory ports: its format, the closer (close, re-close, crash
halfway, updater behind, the tick) and reads from the archive against brute force. The clock is fixed."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import pytest

from shared.application.archive import BoardChanged, CloseOutcome, CloseStatus, PeriodCloser
from shared.application.archive_reads import LISTING_KEPT_MS, ArchiveBoardReader, TieredBoardReader
from shared.application.queries import Entry, Freshness, LeaderboardQueries, PeriodNotFound, Ties
from shared.domain.archive import (
    ArchivedEntry,
    ArchiveFormatError,
    IndexedPlayer,
    Manifest,
    board_prefix,
    bucket_of,
    checksum_of,
    decode_bucket,
    decode_page,
    encode_bucket,
    encode_page,
    manifest_key,
)
from shared.domain.boards import DAY_MS, Board, BoardSchedule, Window
from tests.support.archive_fakes import (
    CrashingStore,
    ExpiredRedis,
    FixedProgress,
    InjectedCrash,
    ListedBoards,
    MemoryArchiveStore,
)

pytestmark = [pytest.mark.unit, pytest.mark.archive]

# 2026-12-02T10:00:00Z: the daily boards up to 2026-12-01 have closed (2 h grace).
NOW_MS = 1_796_205_600_000
DAY = Board(Window.DAILY, "2026-11-20")
SCHEDULE = BoardSchedule((Window.DAILY, Window.WEEKLY))


def board_entries(rng: random.Random, players: int) -> list[Entry]:
    """Entries in a board's order: points descending, many ties."""
    points = sorted((rng.randint(0, 12) for _ in range(players)), reverse=True)
    return [Entry(f"player-{index:05d}-é", value) for index, value in enumerate(points)]


def expected(entries: list[Entry]) -> list[ArchivedEntry]:
    return [
        ArchivedEntry(entry.user_id, entry.points, 1 + sum(other.points > entry.points for other in entries))
        for entry in entries
    ]


def closer(
    boards: ListedBoards, store: object, progress: FixedProgress | None = None, **options: object
) -> PeriodCloser:
    runs = iter(f"run{number}" for number in range(100))
    return PeriodCloser(
        export=boards,
        store=store,  # type: ignore[arg-type]
        progress=progress or FixedProgress(),
        schedule=SCHEDULE,
        clock=lambda: NOW_MS,
        new_run_id=lambda: next(runs),
        **options,  # type: ignore[arg-type]
    )


def test_pages_buckets_and_manifest_read_back_what_was_written() -> None:
    entries = [ArchivedEntry("a", 5, 1), ArchivedEntry("ü 🎮", 5, 1), ArchivedEntry("c", 2, 3)]
    assert decode_page(encode_page(entries)) == entries
    players = {"a": IndexedPlayer(0, 5, 1), "c": IndexedPlayer(2, 2, 3)}
    assert decode_bucket(encode_bucket(players)) == players
    manifest = Manifest(Window.DAILY, "2026-11-20", 3, checksum_of(entries), NOW_MS, "r1", page_size=2, bucket_count=4)
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.page_count == 2
    assert encode_page(entries) == encode_page(list(entries))  # no timestamp inside: same content, same bytes


def test_another_format_version_or_a_damaged_object_is_refused_by_name() -> None:
    manifest = Manifest(Window.DAILY, "2026-11-20", 0, "", NOW_MS, "r1")
    newer = manifest.to_json().replace(b'"format_version": 1', b'"format_version": 3')
    with pytest.raises(ArchiveFormatError, match="format version 3"):
        Manifest.from_json(newer)
    with pytest.raises(ArchiveFormatError, match="rank page"):
        decode_page(b"not gzip")


def test_bucket_of_spreads_ids_over_every_bucket_and_depends_only_on_the_id() -> None:
    ids = [f"user-{number}" for number in range(4000)]
    buckets = [bucket_of(user, 16) for user in ids]
    assert set(buckets) == set(range(16))
    assert buckets == [bucket_of(user, 16) for user in ids]


def test_a_closed_board_is_archived_in_rank_order_and_reads_back_like_brute_force() -> None:
    rng = random.Random(7)
    entries = board_entries(rng, 257)
    boards = ListedBoards({DAY: entries})
    store = MemoryArchiveStore()
    # Small pages, chunks and memory: several pages, several chunks, and the index built in 3 passes.
    outcome = closer(boards, store, page_size=10, export_chunk=33, index_entries_in_memory=100).close(DAY)

    assert (outcome.status, outcome.total) == (CloseStatus.ARCHIVED, 257)
    manifest = Manifest.from_json(store.objects[manifest_key(DAY)])
    truth = expected(entries)
    assert (manifest.total, manifest.page_size, manifest.checksum) == (257, 10, checksum_of(truth))
    pages = [decode_page(store.objects[manifest.page_key(page)]) for page in range(manifest.page_count)]
    assert [entry for page in pages for entry in page] == truth
    assert set(boards.chunk_sizes) == {33}
    assert boards.expiries[DAY] == outcome.expires_at_ms

    reader = ArchiveBoardReader(store)
    for offset, limit in [(0, 10), (5, 17), (250, 100), (257, 5), (0, 100)]:
        page = reader.page(DAY, offset, limit, count_ahead=True)
        assert page.total == 257 and page.final
        got = [(entry.user_id, entry.points) for entry in page.entries]
        assert got == [(entry.user_id, entry.points) for entry in truth[offset : offset + limit]]
        if got:
            assert page.players_ahead == truth[offset].shared_rank - 1
    for position in rng.sample(range(257), 20):
        found = reader.around(DAY, truth[position].user_id, 3, count_ahead=True)
        assert found is not None and found.index == position
        first = max(0, position - 3)
        assert found.neighbourhood.first_index == first
        assert [entry.user_id for entry in found.neighbourhood.entries] == [
            entry.user_id for entry in truth[first : position + 4]
        ]
        assert found.neighbourhood.players_ahead == truth[first].shared_rank - 1
    assert reader.around(DAY, "nobody", 3, count_ahead=False) is None


def test_closing_again_writes_nothing_new() -> None:
    boards = ListedBoards({DAY: board_entries(random.Random(1), 40)})
    store = MemoryArchiveStore()
    service = closer(boards, store, page_size=10)
    assert service.close(DAY).status is CloseStatus.ARCHIVED
    before = dict(store.objects)
    assert service.close(DAY).status is CloseStatus.ALREADY_ARCHIVED
    assert store.objects == before


@pytest.mark.parametrize("writes", [0, 1, 3, 5])
def test_a_run_killed_halfway_leaves_no_archive_and_the_next_run_finishes_it(writes: int) -> None:
    entries = board_entries(random.Random(writes), 45)
    boards = ListedBoards({DAY: entries})
    store = MemoryArchiveStore()
    with pytest.raises(InjectedCrash):
        closer(boards, CrashingStore(store, writes), page_size=10).close(DAY)
    assert manifest_key(DAY) not in store.objects
    assert DAY not in boards.expiries  # still in Redis

    outcome = closer(boards, store, page_size=10).close(DAY)
    assert outcome.status is CloseStatus.ARCHIVED
    manifest = Manifest.from_json(store.objects[manifest_key(DAY)])
    left = [key for key in store.objects if key.startswith(board_prefix(DAY))]
    assert left and all(key.startswith(f"{board_prefix(DAY)}{manifest.run_id}/") for key in left)
    assert manifest.checksum == checksum_of(expected(entries))
    assert [key for key in store.objects if key.startswith("manifests/")] == [manifest_key(DAY)]


def test_a_board_the_updater_has_not_caught_up_with_is_left_alone_and_reported() -> None:
    boards = ListedBoards({DAY: board_entries(random.Random(2), 5)})
    store = MemoryArchiveStore()
    progress = FixedProgress(["scores-2: next record to apply was received before the close"])
    outcome = closer(boards, store, progress).close(DAY)
    assert outcome.status is CloseStatus.UPDATER_BEHIND
    assert outcome.behind == tuple(progress.lagging)
    assert progress.asked == [DAY.closes_at_ms(SCHEDULE.grace_of(Window.DAILY))]
    assert store.objects == {} and boards.expiries == {}


def test_an_open_period_is_not_closed_and_kafka_is_not_asked() -> None:
    today = Window.DAILY.current(NOW_MS)
    yesterday = today.previous()
    assert yesterday is not None
    boards = ListedBoards({today: board_entries(random.Random(3), 5)})
    progress = FixedProgress()
    assert closer(boards, MemoryArchiveStore(), progress).close(today).status is CloseStatus.STILL_OPEN
    assert progress.asked == []


def test_a_board_that_changes_during_the_export_is_not_published() -> None:
    class Growing(ListedBoards):
        def size(self, board: Board) -> int:
            return super().size(board) - 1

    store = MemoryArchiveStore()
    with pytest.raises(BoardChanged):
        closer(Growing({DAY: board_entries(random.Random(4), 12)}), store).close(DAY)
    assert manifest_key(DAY) not in store.objects


def test_a_tick_archives_the_due_boards_oldest_first_up_to_its_limit() -> None:
    days = [Window.DAILY.board_at(NOW_MS - back * DAY_MS) for back in (1, 2, 3, 4)]
    week = Window.WEEKLY.board_at(NOW_MS - 7 * DAY_MS)
    today = Window.DAILY.current(NOW_MS)
    rng = random.Random(5)
    boards = ListedBoards({board: board_entries(rng, 4) for board in [*days, week, today]})
    store = MemoryArchiveStore()
    service = closer(boards, store, boards_per_run=3)

    first = service.close_due()
    archived = [outcome.board for outcome in first if outcome.status is CloseStatus.ARCHIVED]
    deferred = [outcome.board for outcome in first if outcome.status is CloseStatus.DEFERRED]
    everything = sorted([*days, week], key=lambda board: board.start_ms)
    assert archived == everything[:3]
    assert deferred == everything[3:]
    second = service.close_due()
    assert [outcome.board for outcome in second] == everything[3:]
    assert service.close_due() == []
    assert manifest_key(today) not in store.objects


def test_an_archived_board_stays_hot_for_two_more_periods_unless_its_retention_ends_first() -> None:
    grace = SCHEDULE.grace_of(Window.DAILY)
    service = closer(ListedBoards({}), MemoryArchiveStore())
    assert service.hot_until_ms(DAY) == Board(Window.DAILY, "2026-11-22").end_ms + grace  # type: ignore[operator]
    short = BoardSchedule((Window.DAILY,), retention_ms={Window.DAILY: DAY_MS})
    service.schedule = short
    assert service.hot_until_ms(DAY) == DAY.end_ms + grace + DAY_MS  # type: ignore[operator]
    month = Board(Window.MONTHLY, "2026-01")
    service.schedule = BoardSchedule((Window.MONTHLY,))
    assert service.hot_until_ms(month) == Board(Window.MONTHLY, "2026-03").end_ms + SCHEDULE.grace_of(  # type: ignore[operator]
        Window.MONTHLY
    )


def archived_queries(store: MemoryArchiveStore, hot: ExpiredRedis) -> LeaderboardQueries:
    archive = ArchiveBoardReader(store)
    tiered = TieredBoardReader(hot, archive, SCHEDULE, lambda: NOW_MS)
    return LeaderboardQueries(tiered, SCHEDULE.windows, lambda: NOW_MS, schedule=SCHEDULE, catalog=archive)


def test_queries_answer_an_archived_period_and_list_it_and_a_period_nobody_scored_in_is_not_found() -> None:
    entries = board_entries(random.Random(6), 30)
    store = MemoryArchiveStore()
    closer(ListedBoards({DAY: entries}), store, page_size=8).close(DAY)
    queries = archived_queries(store, ExpiredRedis())
    truth = expected(entries)

    top = queries.top(DAY, offset=6, limit=5, ties=Ties.SHARED)
    assert top.freshness is Freshness.FINAL and top.total == 30
    assert [(s.rank, s.user_id, s.points) for s in top.entries] == [
        (entry.shared_rank, entry.user_id, entry.points) for entry in truth[6:11]
    ]
    me = queries.player(DAY, truth[12].user_id, around=2)
    assert me is not None and me.standing.rank == 13 and [s.rank for s in me.around] == [11, 12, 13, 14, 15]

    nobody = Board(Window.DAILY, "2026-11-19")
    with pytest.raises(PeriodNotFound, match="2026-11-19"):
        queries.top(nobody, offset=0, limit=10)
    with pytest.raises(PeriodNotFound, match="2026-11-19"):
        queries.player(nobody, "anyone", around=0)
    assert queries.player(DAY, "nobody", around=0) is None

    old = Board(Window.DAILY, "2019-02-03")
    closer(ListedBoards({old: entries[:3]}), store).close(old)
    listed = queries.periods("daily").periods
    assert listed[0] == "2026-12-02" and listed[1:] == ["2026-11-20", "2019-02-03"]


def test_an_open_board_is_never_looked_for_in_the_archive() -> None:
    store = MemoryArchiveStore()
    hot = ExpiredRedis()
    queries = archived_queries(store, hot)
    today = Window.DAILY.current(NOW_MS)
    top = queries.top(today, offset=0, limit=10)
    assert (top.total, top.freshness) == (0, Freshness.LIVE)
    assert queries.player(today, "someone", around=0) is None
    assert store.gets == 0


def test_a_player_who_moves_up_during_the_export_is_not_published_twice() -> None:
    """A late record that raises a player's points between two ZREVRANGE calls keeps the board's
    size but shifts every index below: one player is read twice and the mover never."""

    class Reordered(ListedBoards):
        def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
            entries = self.boards[board]
            yield entries[:chunk]
            mover = entries[-1]
            entries = [Entry(mover.user_id, entries[0].points + 1), *entries[:-1]]
            for start in range(chunk, len(entries), chunk):
                yield entries[start : start + chunk]

    store = MemoryArchiveStore()
    with pytest.raises(BoardChanged, match=r"listed '.+' twice during the export"):
        closer(Reordered({DAY: board_entries(random.Random(5), 12)}), store, export_chunk=5).close(DAY)
    assert manifest_key(DAY) not in store.objects


def test_a_board_that_changes_between_two_index_passes_is_not_published() -> None:
    class ChangedAfterFirstPass(ListedBoards):
        passes = 0

        def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
            self.passes += 1
            entries = list(self.boards[board])
            if self.passes > 1:
                entries[-1] = Entry(entries[-1].user_id + "-late", entries[-1].points)
            yield from (entries[start : start + chunk] for start in range(0, len(entries), chunk))

    store = MemoryArchiveStore()
    with pytest.raises(BoardChanged, match="changed between two passes of the export"):
        closer(
            ChangedAfterFirstPass({DAY: board_entries(random.Random(6), 12)}), store, index_entries_in_memory=5
        ).close(DAY)
    assert manifest_key(DAY) not in store.objects


def test_of_two_closers_racing_on_a_board_the_first_manifest_stands_and_the_loser_removes_only_its_own_run() -> None:
    """Both found no manifest and exported the board; the other one published first."""
    entries = board_entries(random.Random(7), 25)
    store = MemoryArchiveStore()

    class RacedStore(MemoryArchiveStore):
        """The store as the loser sees it: the winner publishes just before the loser's manifest."""

        def __init__(self) -> None:
            super().__init__()
            self.objects = store.objects

        def put(self, key: str, data: bytes, *, content_type: str) -> None:
            self.let_the_winner_publish(key)
            super().put(key, data, content_type=content_type)

        def put_new(self, key: str, data: bytes, *, content_type: str) -> bool:
            self.let_the_winner_publish(key)
            return super().put_new(key, data, content_type=content_type)

        def let_the_winner_publish(self, key: str) -> None:
            # Before the loser's first object: what the loser writes after it, only the loser can remove.
            if manifest_key(DAY) not in self.objects:
                winner = closer(ListedBoards({DAY: entries}), store, page_size=10)
                winner.new_run_id = lambda: "winner"
                assert winner.close(DAY).status is CloseStatus.ARCHIVED

    loser_boards = ListedBoards({DAY: entries})
    outcome = closer(loser_boards, RacedStore(), page_size=10).close(DAY)
    assert outcome == CloseOutcome(DAY, CloseStatus.ALREADY_ARCHIVED)
    manifest = Manifest.from_json(store.objects[manifest_key(DAY)])
    assert manifest.run_id == "winner"
    left = [key for key in store.objects if key.startswith(board_prefix(DAY))]
    assert left and all(key.startswith(f"{board_prefix(DAY)}winner/") for key in left)
    assert len(left) == manifest.page_count + manifest.bucket_count
    assert loser_boards.expiries == {}


def test_a_run_that_died_after_its_manifest_but_before_the_expiry_gets_the_expiry_set_by_the_next_run() -> None:
    """Otherwise `already_archived` would leave the board in Redis for its whole retention (for good, monthly)."""

    class ExpiryFails(ListedBoards):
        def expire(self, board: Board, at_ms: int) -> None:
            raise InjectedCrash("Redis went away before the expiry")

    entries = board_entries(random.Random(8), 15)
    store = MemoryArchiveStore()
    with pytest.raises(InjectedCrash):
        closer(ExpiryFails({DAY: entries}), store, page_size=10).close(DAY)
    assert manifest_key(DAY) in store.objects

    boards = ListedBoards({DAY: entries})
    service = closer(boards, store, page_size=10)
    outcome = service.close(DAY)
    assert outcome.status is CloseStatus.ALREADY_ARCHIVED
    assert boards.expiries == {DAY: service.hot_until_ms(DAY)}


def test_a_player_absent_from_a_closed_board_redis_still_holds_is_not_looked_for_in_the_archive() -> None:
    """Redis answers that player_not_found itself: no S3 GETs, and no 503 while S3 is down."""

    class HoldsTheBoard(ExpiredRedis):
        def existing(self, boards: Sequence[Board]) -> set[Board]:
            return set(boards)

    store = MemoryArchiveStore()
    queries = archived_queries(store, HoldsTheBoard())
    assert queries.player(DAY, "nobody-here", around=0) is None
    assert store.gets == 0


def test_the_periods_of_a_window_cost_one_listing_a_minute_and_no_manifest_reads() -> None:
    store = MemoryArchiveStore()
    closer(ListedBoards({DAY: board_entries(random.Random(7), 5)}), store, page_size=8).close(DAY)
    clock = [NOW_MS]
    archive = ArchiveBoardReader(store, clock=lambda: clock[0])
    tiered = TieredBoardReader(ExpiredRedis(), archive, SCHEDULE, lambda: clock[0])
    queries = LeaderboardQueries(tiered, SCHEDULE.windows, lambda: clock[0], schedule=SCHEDULE, catalog=archive)
    store.gets = store.listings = 0

    assert DAY.period in queries.periods("daily").periods
    assert (store.listings, store.gets) == (1, 0)
    clock[0] += LISTING_KEPT_MS - 1
    assert DAY.period in queries.periods("daily").periods
    assert store.listings == 1
    clock[0] += 1
    queries.periods("daily")
    assert (store.listings, store.gets) == (2, 0)


def test_an_archive_reader_knows_the_boards_it_holds() -> None:
    store = MemoryArchiveStore()
    closer(ListedBoards({DAY: board_entries(random.Random(8), 3)}), store, page_size=8).close(DAY)
    other = Board(Window.DAILY, "2026-11-18")
    assert ArchiveBoardReader(store).existing([DAY, other]) == {DAY}
