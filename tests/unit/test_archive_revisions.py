"""A closed board's archive re-exported after a ban and an unban: new revisions beside the base archive,
never an edit of it, read back by the archive reader like brute force."""

from __future__ import annotations

import random

import pytest

from shared.application.archive import PeriodCloser
from shared.application.archive_reads import MANIFEST_KEPT_MS, ArchiveBoardReader
from shared.application.archive_revisions import ArchiveReviser, current_manifest, newest_revision
from shared.application.queries import Entry
from shared.domain.archive import ArchivedEntry, manifest_key
from shared.domain.archive_revisions import (
    REEXPORTS_PENDING_PREFIX,
    revision_key,
    revision_number,
    without_players,
)
from shared.domain.boards import Board, BoardSchedule, Window
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from tests.support.archive_fakes import FixedProgress, ListedBoards, MemoryArchiveStore

pytestmark = [pytest.mark.unit, pytest.mark.archive, pytest.mark.moderation]

NOW_MS = 1_796_205_600_000  # 2026-12-02T10:00:00Z: the daily boards up to 2026-12-01 have closed
DAY = Board(Window.DAILY, "2026-11-20")
OTHER_DAY = Board(Window.DAILY, "2026-11-21")
SCHEDULE = BoardSchedule((Window.DAILY, Window.WEEKLY))


def entries_of(rng: random.Random, players: int) -> list[Entry]:
    points = sorted((rng.randint(0, 9) for _ in range(players)), reverse=True)
    return [Entry(f"player-{index:04d}", value) for index, value in enumerate(points)]


def brute_force(entries: list[Entry], hidden: set[str]) -> list[ArchivedEntry]:
    kept = [entry for entry in entries if entry.user_id not in hidden]
    return [
        ArchivedEntry(entry.user_id, entry.points, 1 + sum(other.points > entry.points for other in kept))
        for entry in kept
    ]


def archived(store: MemoryArchiveStore, boards: dict[Board, list[Entry]]) -> None:
    runs = iter(f"base{number}" for number in range(100))
    closer = PeriodCloser(
        export=ListedBoards(boards),
        store=store,
        progress=FixedProgress(),
        schedule=SCHEDULE,
        clock=lambda: NOW_MS,
        new_run_id=lambda: next(runs),
        page_size=10,
    )
    for board in boards:
        closer.close(board)


def reviser(store: MemoryArchiveStore) -> ArchiveReviser:
    runs = iter(f"rev{number}" for number in range(100))
    return ArchiveReviser(
        store, SCHEDULE.windows, clock=lambda: NOW_MS, new_run_id=lambda: next(runs), page_size=10, players_per_bucket=7
    )


def moderation(kind: ModerationKind, user_id: str, at_ms: int) -> ModerationAction:
    return ModerationAction(action_id_for(f"{kind}{at_ms}", user_id), user_id, kind, "test", "operator", at_ms)


def read_all(reader: ArchiveBoardReader, board: Board) -> list[tuple[str, int]]:
    page = reader.page(board, 0, 10_000, count_ahead=False)
    return [(entry.user_id, entry.points) for entry in page.entries]


def test_a_ban_writes_a_revision_without_the_player_and_leaves_the_base_archive_as_it_was() -> None:
    rng = random.Random(3)
    entries = entries_of(rng, 57)
    store = MemoryArchiveStore()
    archived(store, {DAY: entries, OTHER_DAY: entries_of(rng, 5)})
    before = dict(store.objects)
    cheater = entries[12].user_id

    revise = reviser(store)
    revise.request(moderation(ModerationKind.BAN, cheater, NOW_MS))
    outcomes = revise.apply_pending()

    assert [(outcome.board, outcome.revision, outcome.total) for outcome in outcomes] == [(DAY, 1, 56)]
    assert not any(key.startswith(REEXPORTS_PENDING_PREFIX) for key in store.objects)  # the request is done
    assert all(
        store.objects.get(key) == data for key, data in before.items() if key.startswith(("boards/", "manifests/"))
    )
    revision = newest_revision(store, DAY)
    assert revision is not None and revision.hidden == {cheater}
    reader = ArchiveBoardReader(store)
    page = reader.page(DAY, 0, 100, count_ahead=False)
    assert [(e.user_id, e.points) for e in page.entries] == [
        (e.user_id, e.points) for e in brute_force(entries, {cheater})
    ]
    assert page.total == 56
    assert reader.around(DAY, cheater, 2, count_ahead=False) is None
    last = brute_force(entries, {cheater})[-1]
    found = reader.around(DAY, last.user_id, 0, count_ahead=False)
    assert found is not None and found.index == 55
    # The other day never held the player: no revision there.
    assert newest_revision(store, OTHER_DAY) is None


def test_an_unban_writes_a_newer_revision_with_the_player_back() -> None:
    entries = entries_of(random.Random(4), 30)
    store = MemoryArchiveStore()
    archived(store, {DAY: entries})
    cheater, other = entries[0].user_id, entries[5].user_id
    revise = reviser(store)
    revise.request(moderation(ModerationKind.BAN, cheater, NOW_MS))
    revise.request(moderation(ModerationKind.BAN, other, NOW_MS + 1))
    revise.request(moderation(ModerationKind.UNBAN, cheater, NOW_MS + 2))
    assert [outcome.revision for outcome in revise.apply_pending()] == [1, 2, 3]

    revision = newest_revision(store, DAY)
    assert revision is not None and (revision.number, revision.hidden) == (3, frozenset({other}))
    assert read_all(ArchiveBoardReader(store), DAY) == [
        (entry.user_id, entry.points) for entry in brute_force(entries, {other})
    ]
    for number in (1, 2, 3):
        assert revision_key(DAY, number) in store.objects  # every version stays


def test_applying_a_request_again_writes_nothing_new() -> None:
    entries = entries_of(random.Random(5), 20)
    store = MemoryArchiveStore()
    archived(store, {DAY: entries})
    revise = reviser(store)
    ban = moderation(ModerationKind.BAN, entries[3].user_id, NOW_MS)
    assert len(revise.apply(ban)) == 1
    objects = dict(store.objects)
    assert revise.apply(ban) == []
    assert store.objects == objects
    # An unban of a player no revision hides changes nothing either.
    assert revise.apply(moderation(ModerationKind.UNBAN, "never-banned", NOW_MS)) == []


def test_a_revision_another_run_published_first_stands_and_the_loser_cleans_up() -> None:
    entries = entries_of(random.Random(6), 20)
    store = MemoryArchiveStore()
    archived(store, {DAY: entries})
    first = reviser(store).revise(DAY, entries[0].user_id, hide=True)
    assert first is not None and first.revision == 1
    racing = reviser(store)
    racing.new_run_id = lambda: "loser"

    def publish_first(key: str, data: bytes, *, content_type: str) -> bool:
        return False  # another run put revision 2 between this run's listing and its publication

    store_put_new = store.put_new
    store.put_new = publish_first  # type: ignore[method-assign]
    assert racing.revise(DAY, entries[1].user_id, hide=True) is None
    store.put_new = store_put_new  # type: ignore[method-assign]
    assert not any("/loser/" in key for key in store.objects)


def test_the_reader_looks_for_a_newer_revision_once_its_manifest_is_old_enough() -> None:
    entries = entries_of(random.Random(8), 15)
    store = MemoryArchiveStore()
    archived(store, {DAY: entries})
    now = [NOW_MS]
    reader = ArchiveBoardReader(store, clock=lambda: now[0])
    assert len(read_all(reader, DAY)) == 15
    reviser(store).revise(DAY, entries[0].user_id, hide=True)
    now[0] += MANIFEST_KEPT_MS - 1
    assert len(read_all(reader, DAY)) == 15  # still the cached manifest
    now[0] += 1
    assert len(read_all(reader, DAY)) == 14
    assert current_manifest(store, DAY) == reader.manifest(DAY)


def test_requests_that_cannot_be_applied_are_dropped_and_resets_make_none() -> None:
    store = MemoryArchiveStore()
    archived(store, {DAY: entries_of(random.Random(9), 5)})
    revise = reviser(store)
    revise.request(
        ModerationAction(
            action_id_for("r", "u"), "u", ModerationKind.RESET, "t", "op", NOW_MS, None, "daily", DAY.period
        )
    )
    assert not any(key.startswith(REEXPORTS_PENDING_PREFIX) for key in store.objects)
    store.objects[f"{REEXPORTS_PENDING_PREFIX}0000000000000-junk.json"] = b"\xff not json"
    assert revise.apply_pending() == []
    assert not any(key.startswith(REEXPORTS_PENDING_PREFIX) for key in store.objects)


@pytest.mark.parametrize(
    ("key", "number"),
    [
        ("revisions/daily/2026-11-20/000003.json", 3),
        ("revisions/daily/2026-11-20/3.json", None),
        ("revisions/daily/2026-11-20/00000\uff13.json", None),
        ("revisions/daily/2026-11-21/000003.json", None),
        ("revisions/daily/2026-11-20/000003.json.tmp", None),
    ],
)
def test_only_the_boards_own_revision_keys_count(key: str, number: int | None) -> None:
    assert revision_number(DAY, key) == number


def test_shared_ranks_are_counted_again_without_the_hidden_players() -> None:
    entries = [ArchivedEntry("a", 9, 1), ArchivedEntry("b", 7, 2), ArchivedEntry("c", 7, 2), ArchivedEntry("d", 1, 4)]
    assert list(without_players(entries, frozenset({"b"}))) == [
        ArchivedEntry("a", 9, 1),
        ArchivedEntry("c", 7, 2),
        ArchivedEntry("d", 1, 3),
    ]
    assert next(without_players(entries, frozenset({"a"}))) == ArchivedEntry("b", 7, 1)
    assert manifest_key(DAY) == "manifests/daily/2026-11-20.json"
