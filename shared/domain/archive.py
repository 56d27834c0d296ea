"""The archive of a closed board: what its objects hold and where they live. No I/O.

A board is archived as objects under one run's prefix, then a manifest naming that run:

    manifests/<window>/<period>.json                         the manifest: its presence is the archive
    boards/<window>/<period>/<run>/pages/<n>.json.gz         rank pages, PAGE_SIZE entries each, best first
    boards/<window>/<period>/<run>/index/<b>.json.gz         per-player buckets: user -> position, points, shared rank

An entry in a page is `[user_id, points, shared_rank]`; a bucket maps `user_id` to
`[position, points, shared_rank]` (position 0-based). Pages and buckets are gzip'd compact JSON.
The checksum is SHA-256 over every entry's canonical line in rank order, so a restore can be
checked against the manifest without trusting the pages' compression. From format version 2 the
manifest also lists each page object's SHA-256 (`page_checksums`), so a reader of one page can tell
it was changed, even into other valid JSON. Version 1 manifests (without them) are still read.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.domain.boards import Board, Window

FORMAT_VERSION = 2
# Version 1: the same objects, without per-page checksums in the manifest.
READABLE_VERSIONS = (1, 2)
# Chosen by bench/archive_sizes.py (docs/ARCHIVE.md): a top page or a neighbourhood (at most 100 + 1
# entries) spans at most two pages, and a page stays a small GET.
PAGE_SIZE = 1_000
# Players per index bucket, on average: one bucket is one GET of a few tens of kB.
PLAYERS_PER_BUCKET = 1_000
MANIFESTS_PREFIX = "manifests"
BOARDS_PREFIX = "boards"


class ArchiveFormatError(ValueError):
    """An archive object that this code cannot read: another format version, or a damaged object."""


class ArchiveDamaged(RuntimeError):
    """A board's archive that cannot be read as its manifest says: an object missing or unreadable,
    or contents that do not match the manifest. The message names the board and what is wrong."""

    def __init__(self, board: Board, problem: str) -> None:
        super().__init__(f"the archive of {board.window} {board.period} {problem}")
        self.board = board


@dataclass(frozen=True, slots=True)
class ArchivedEntry:
    user_id: str
    points: int
    shared_rank: int
    """1 + the players with strictly more points."""


@dataclass(frozen=True, slots=True)
class Manifest:
    window: Window
    period: str
    total: int
    checksum: str
    created_at_ms: int
    run_id: str
    page_size: int = PAGE_SIZE
    bucket_count: int = 1
    page_checksums: tuple[str, ...] = ()
    """Per page, the SHA-256 of its object as stored (format version 2); empty for version 1."""

    @property
    def format_version(self) -> int:
        return FORMAT_VERSION if self.page_checksums else 1

    @property
    def board(self) -> Board:
        return Board(self.window, self.period)

    @property
    def page_count(self) -> int:
        return -(-self.total // self.page_size)

    def page_key(self, page: int) -> str:
        return f"{run_prefix(self.board, self.run_id)}pages/{page:06d}.json.gz"

    def bucket_key(self, bucket: int) -> str:
        return f"{run_prefix(self.board, self.run_id)}index/{bucket:06d}.json.gz"

    def bucket_of(self, user_id: str) -> int:
        return bucket_of(user_id, self.bucket_count)

    def check_page(self, number: int, data: bytes) -> None:
        """Raise ArchiveDamaged if a page object differs from the one the manifest lists (version 2)."""
        if self.page_checksums and page_checksum(data) != self.page_checksums[number]:
            raise ArchiveDamaged(
                self.board, f"holds {self.page_key(number)} (page {number}) changed since its manifest was written"
            )

    def to_json(self) -> bytes:
        extra: dict[str, Any] = {"page_checksums": list(self.page_checksums)} if self.page_checksums else {}
        return json.dumps(
            {
                **extra,
                "format_version": self.format_version,
                "window": self.window.value,
                "period": self.period,
                "total": self.total,
                "checksum": self.checksum,
                "created_at_ms": self.created_at_ms,
                "run_id": self.run_id,
                "page_size": self.page_size,
                "bucket_count": self.bucket_count,
                "page_count": self.page_count,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            fields = json.loads(data)
            version = int(fields["format_version"])
            if version not in READABLE_VERSIONS:
                raise ArchiveFormatError(f"archive format version {version}; this code reads {READABLE_VERSIONS}")
            manifest = cls(
                window=Window(fields["window"]),
                period=str(fields["period"]),
                total=int(fields["total"]),
                checksum=str(fields["checksum"]),
                created_at_ms=int(fields["created_at_ms"]),
                run_id=str(fields["run_id"]),
                page_size=int(fields["page_size"]),
                bucket_count=int(fields["bucket_count"]),
                page_checksums=tuple(fields["page_checksums"]) if version >= 2 else (),
            )
            if version >= 2 and (
                len(manifest.page_checksums) != manifest.page_count
                or not all(isinstance(value, str) and len(value) == 64 for value in manifest.page_checksums)
            ):
                raise ArchiveFormatError("unreadable manifest: 'page_checksums' must list one SHA-256 per page")
            return manifest
        except (ValueError, KeyError, TypeError) as problem:
            if isinstance(problem, ArchiveFormatError):
                raise
            raise ArchiveFormatError(f"unreadable manifest: {problem}") from None


def page_checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_key(board: Board) -> str:
    return f"{MANIFESTS_PREFIX}/{board.window}/{board.period}.json"


def manifests_prefix(window: Window) -> str:
    return f"{MANIFESTS_PREFIX}/{window}/"


def period_of_manifest_key(window: Window, key: str) -> str | None:
    """The period a manifest key names, or None for a key that is not one of the window's manifests."""
    prefix = manifests_prefix(window)
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    return key[len(prefix) : -len(".json")]


def board_prefix(board: Board) -> str:
    return f"{BOARDS_PREFIX}/{board.window}/{board.period}/"


def run_prefix(board: Board, run_id: str) -> str:
    return f"{board_prefix(board)}{run_id}/"


def bucket_count_for(total: int, players_per_bucket: int = PLAYERS_PER_BUCKET) -> int:
    return max(1, -(-total // players_per_bucket))


def bucket_of(user_id: str, bucket_count: int) -> int:
    """A stable hash (not Python's per-process one) of the id, into 0..bucket_count - 1."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % bucket_count


_json_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


class Checksum:
    """SHA-256 over entries in rank order, one canonical line each."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, entries: Iterable[ArchivedEntry]) -> None:
        # Byte for byte `json.dumps([user_id, points, shared_rank])` and a newline, built without the
        # general encoder: it was most of an export's CPU time.
        lines = "".join(
            f"[{_json_string(entry.user_id)}, {int(entry.points)}, {int(entry.shared_rank)}]\n" for entry in entries
        )
        self._hash.update(lines.encode())

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def checksum_of(entries: Iterable[ArchivedEntry]) -> str:
    checksum = Checksum()
    checksum.add(entries)
    return checksum.hexdigest()


def _pack(document: Any) -> bytes:
    # mtime=0: the same content always gives the same bytes.
    return gzip.compress(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), mtime=0)


def _unpack(data: bytes, what: str) -> Any:
    try:
        return json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as problem:
        raise ArchiveFormatError(f"unreadable {what}: {problem}") from None


def encode_page(entries: Iterable[ArchivedEntry]) -> bytes:
    return _pack([[entry.user_id, entry.points, entry.shared_rank] for entry in entries])


def decode_page(data: bytes) -> list[ArchivedEntry]:
    return [ArchivedEntry(str(user), int(points), int(rank)) for user, points, rank in _unpack(data, "rank page")]


@dataclass(frozen=True, slots=True)
class IndexedPlayer:
    position: int
    """0-based, in the board's order."""
    points: int
    shared_rank: int


def encode_bucket(players: dict[str, IndexedPlayer]) -> bytes:
    return _pack({user: [player.position, player.points, player.shared_rank] for user, player in players.items()})


def decode_bucket(data: bytes) -> dict[str, IndexedPlayer]:
    return {
        str(user): IndexedPlayer(int(position), int(points), int(rank))
        for user, (position, points, rank) in _unpack(data, "index bucket").items()
    }


def pages_spanning(first: int, last: int, page_size: int) -> range:
    """The pages holding positions first..last (0-based, inclusive)."""
    return range(first // page_size, last // page_size + 1)
