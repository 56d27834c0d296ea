"""A damaged archive object read by the query path: a clear 502 naming the archive, not a crash.
The restore's score order (equal points in the archive's order), and the checksum's definition."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Any

import pytest

from shared.application.archive_reads import ArchiveBoardReader
from shared.application.rebuild import _Carry
from shared.domain.archive import (
    ArchiveDamaged,
    ArchivedEntry,
    ArchiveFormatError,
    Checksum,
    IndexedPlayer,
    Manifest,
    encode_bucket,
    encode_page,
    manifest_key,
    page_checksum,
)
from shared.domain.boards import Board, Window
from shared.http.api import api_resolver
from tests.support.archive_fakes import MemoryArchiveStore
from tests.support.sample_events import load_event

pytestmark = [pytest.mark.unit, pytest.mark.archive]

CLOSED = Board(Window.DAILY, "2026-11-20")


def archived(store: MemoryArchiveStore) -> Manifest:
    entries = [ArchivedEntry("ann", 9, 1), ArchivedEntry("bob", 7, 2), ArchivedEntry("cy", 7, 2)]
    manifest = Manifest(CLOSED.window, CLOSED.period, len(entries), "-", 0, "run1", page_size=2)
    store.put(manifest.page_key(0), encode_page(entries[:2]), content_type="application/gzip")
    store.put(manifest.page_key(1), encode_page(entries[2:]), content_type="application/gzip")
    players = {entry.user_id: IndexedPlayer(n, entry.points, entry.shared_rank) for n, entry in enumerate(entries)}
    store.put(manifest.bucket_key(0), encode_bucket(players), content_type="application/gzip")
    store.put(manifest_key(CLOSED), manifest.to_json(), content_type="application/json")
    return manifest


@pytest.mark.parametrize("damage", [b"", b"\x1f\x8b\x08 truncated", b"plain text"])
def test_an_unreadable_page_or_bucket_is_archive_damaged_naming_the_object(damage: bytes) -> None:
    store = MemoryArchiveStore()
    manifest = archived(store)
    store.put(manifest.page_key(1), damage, content_type="application/gzip")
    with pytest.raises(
        ArchiveDamaged, match=f"the archive of daily 2026-11-20 holds an unreadable object {manifest.page_key(1)}"
    ):
        ArchiveBoardReader(store).page(CLOSED, 0, 10, count_ahead=False)
    store.put(manifest.bucket_key(0), damage, content_type="application/gzip")
    with pytest.raises(ArchiveDamaged, match=f"unreadable object {manifest.bucket_key(0)}"):
        ArchiveBoardReader(store).around(CLOSED, "ann", 1, count_ahead=False)


def test_an_unreadable_manifest_is_archive_damaged() -> None:
    store = MemoryArchiveStore()
    archived(store)
    store.put(manifest_key(CLOSED), b"{not json", content_type="application/json")
    with pytest.raises(ArchiveDamaged, match="has an unreadable manifest"):
        ArchiveBoardReader(store).page(CLOSED, 0, 10, count_ahead=False)


def test_the_api_answers_a_damaged_archive_with_502_naming_the_period() -> None:
    app = api_resolver()

    @app.get("/v1/leaderboards/monthly/top")
    def top() -> dict[str, Any]:
        raise ArchiveDamaged(Board(Window.MONTHLY, "2026-10"), "misses boards/monthly/2026-10/run/pages/000001.json.gz")

    answer = app.resolve(load_event("get_top.json"), None)  # type: ignore[arg-type]
    assert answer["statusCode"] == 502
    error = json.loads(answer["body"])["error"]
    assert error == {
        "code": "archive_damaged",
        "message": "the archive of monthly 2026-10 cannot be read",
        "period": "2026-10",
    }


def test_equal_points_come_back_in_the_archives_order() -> None:
    board = CLOSED
    entries = [ArchivedEntry(user, points, 0) for user, points in [("zed", 9), ("amy", 9), ("bea", 9), ("kim", 4)]]
    scores = dict(_Carry().scores(board, entries[:2]) + _Carry().scores(board, entries[2:]))
    carry = _Carry()
    first = carry.scores(board, entries[:2])
    resumed = _Carry.parse(carry.text()).scores(board, entries[2:])
    ordered = sorted(first + resumed, key=lambda pair: (pair[1], pair[0]), reverse=True)
    assert [user for user, _ in ordered] == ["zed", "amy", "bea", "kim"]
    assert scores  # a carry that starts afresh on each page is the bug this guards against
    restarted = sorted(scores.items(), key=lambda pair: (pair[1], pair[0]), reverse=True)
    assert [user for user, _ in restarted] != ["zed", "amy", "bea", "kim"]


def test_an_archive_page_out_of_rank_order_is_damaged() -> None:
    entries = [ArchivedEntry("a", 3, 1), ArchivedEntry("b", 5, 2)]
    with pytest.raises(ArchiveDamaged, match="lists 'b' out of rank order"):
        _Carry().scores(CLOSED, entries)


def test_the_checksum_is_sha256_over_each_entrys_json_line() -> None:
    """The format's definition (a manifest written by any version must still verify)."""
    entries = [
        ArchivedEntry('q"uote\\back', 9, 1),
        ArchivedEntry("é中😀\n\t", 2**53 - 1, 2),
        ArchivedEntry("", 0, 3),
    ]
    expected = hashlib.sha256(
        b"".join(json.dumps([e.user_id, e.points, e.shared_rank]).encode() + b"\n" for e in entries)
    )
    checksum = Checksum()
    checksum.add(entries[:1])
    checksum.add(entries[1:])
    assert checksum.hexdigest() == expected.hexdigest()


def test_a_page_changed_into_other_valid_json_is_found_by_its_checksum_on_the_query_path() -> None:
    store = MemoryArchiveStore()
    entries = [ArchivedEntry("ann", 9, 1), ArchivedEntry("bob", 7, 2), ArchivedEntry("cy", 7, 2)]
    pages = [encode_page(entries[:2]), encode_page(entries[2:])]
    manifest = Manifest(
        CLOSED.window, CLOSED.period, 3, "-", 0, "run2", page_size=2, page_checksums=tuple(map(page_checksum, pages))
    )
    for number, data in enumerate(pages):
        store.put(manifest.page_key(number), data, content_type="application/gzip")
    store.put(manifest_key(CLOSED), manifest.to_json(), content_type="application/json")
    assert len(ArchiveBoardReader(store).page(CLOSED, 0, 10, count_ahead=False).entries) == 3

    store.put(manifest.page_key(1), encode_page([ArchivedEntry("cy", 8, 2)]), content_type="application/gzip")
    with pytest.raises(ArchiveDamaged, match=re.escape(f"holds {manifest.page_key(1)} (page 1) changed since")):
        ArchiveBoardReader(store).page(CLOSED, 2, 1, count_ahead=False)
    # The first page is intact and still answers.
    assert [entry.user_id for entry in ArchiveBoardReader(store).page(CLOSED, 0, 2, count_ahead=False).entries] == [
        "ann",
        "bob",
    ]


def test_a_version_2_manifest_lists_one_checksum_per_page_and_version_1_is_still_read() -> None:
    manifest = Manifest(CLOSED.window, CLOSED.period, 3, "c", 0, "run", page_size=2, page_checksums=("a" * 64,) * 2)
    assert b'"format_version": 2' in manifest.to_json()
    assert Manifest.from_json(manifest.to_json()) == manifest
    older = dataclasses.replace(manifest, page_checksums=())
    assert b'"format_version": 1' in older.to_json() and b"page_checksums" not in older.to_json()
    assert Manifest.from_json(older.to_json()) == older
    short = manifest.to_json().replace(b'["' + b"a" * 64 + b'", ', b"[")
    with pytest.raises(ArchiveFormatError, match="one SHA-256 per page"):
        Manifest.from_json(short)
