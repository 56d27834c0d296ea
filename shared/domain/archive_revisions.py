"""New versions of a closed board's archive with banned players left out (docs/MODERATION.md). No I/O.

A revision never edits the archive: it is a new run's pages and buckets, then a revision manifest,
last, under a key of its own:

    revisions/<window>/<period>/<n, 6 digits>.json    revision n: the base manifest's fields, and
                                                      "revision" n and "hidden" (the players left out)
    reexports/pending/<received_at>-<action_id>.json  a ban or unban waiting for its revisions

Revision n holds the base archive (the period closer's) without its `hidden` players, ranked again.
A reader takes the highest n that is there, or the base manifest when there is none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shared.domain.archive import ArchivedEntry, ArchiveFormatError, Manifest
from shared.domain.boards import Board
from shared.domain.moderation import ModerationAction

REVISIONS_PREFIX = "revisions"
REEXPORTS_PENDING_PREFIX = "reexports/pending/"
_EPOCH_MS_DIGITS = 13


@dataclass(frozen=True, slots=True)
class Revision:
    manifest: Manifest
    number: int
    hidden: frozenset[str]


def revisions_prefix(board: Board) -> str:
    return f"{REVISIONS_PREFIX}/{board.window}/{board.period}/"


def revision_key(board: Board, number: int) -> str:
    return f"{revisions_prefix(board)}{number:06d}.json"


def revision_number(board: Board, key: str) -> int | None:
    """The revision a key names, or None for a key that is not one of the board's revision manifests."""
    prefix = revisions_prefix(board)
    name = key[len(prefix) :] if key.startswith(prefix) else ""
    digits = name.removesuffix(".json")
    if len(digits) != 6 or not name.endswith(".json") or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def encode_revision(revision: Revision) -> bytes:
    fields = json.loads(revision.manifest.to_json())
    fields.update({"revision": revision.number, "hidden": sorted(revision.hidden)})
    return json.dumps(fields, sort_keys=True).encode()


def decode_revision(data: bytes) -> Revision:
    manifest = Manifest.from_json(data)
    try:
        fields = json.loads(data)
        number, hidden = fields["revision"], fields["hidden"]
    except (ValueError, KeyError, TypeError) as problem:
        raise ArchiveFormatError(f"unreadable revision manifest: {problem}") from None
    if type(number) is not int or not isinstance(hidden, list) or not all(isinstance(user, str) for user in hidden):
        raise ArchiveFormatError("unreadable revision manifest: 'revision' must be an integer, 'hidden' a list of ids")
    return Revision(manifest, number, frozenset(hidden))


def reexport_request_key(action: ModerationAction) -> str:
    """Sorts in the order the actions were accepted, so bans and unbans are applied in that order."""
    return f"{REEXPORTS_PENDING_PREFIX}{action.received_at_ms:0{_EPOCH_MS_DIGITS}d}-{action.action_id}.json"


def without_players(entries: Iterable[ArchivedEntry], hidden: frozenset[str]) -> Iterator[ArchivedEntry]:
    """The entries in their order without the hidden players, their shared ranks counted again."""
    position = 0
    shared_rank = 0
    previous_points: int | None = None
    for entry in entries:
        if entry.user_id in hidden:
            continue
        position += 1
        if entry.points != previous_points:
            shared_rank, previous_points = position, entry.points
        yield ArchivedEntry(entry.user_id, entry.points, shared_rank)
