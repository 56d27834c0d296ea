"""Changing a board's shard count S: its old layout copied into the new one, verified, then cleaned up.

The updater is paused while this runs (docs/BOARDS.md#resharding-changing-s-on-a-live-board), so the
old layout holds still. `BoardResharder.reshard` copies every old shard's members and hidden entries,
by rank in chunks and scores unchanged, to their home shard in the new layout; gives every new shard
the union of the old shards' remembered event ids and the watermarks `carried_watermarks` computes;
then checks that both layouts hold the same players with the same scores in the same order. The
operator then switches `BoardShards` and resumes the updater; `clean_up` deletes the old layout.

Exactly once across the switch (the argument docs/BOARDS.md states): a new shard's watermark for a
partition is the *lowest* of the old shards'. A shard's watermark names the highest offset of a call
it applied, and the updater sends a shard a partition's records in offset order, never past one
that failed there; so every record at or below every old shard's watermark was applied, in its
player's shard. Records above the lowest watermark that some shard applied have their event ids in
that shard's memory, and so in the union every new shard holds: redelivered, they are skipped as
duplicates, and the ones no shard applied are applied. (The highest watermark would be wrong: a
record below it that its shard had not taken would be skipped as applied.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import zip_longest
from typing import NoReturn, Protocol

from shared.application.rebuild import LOCK_MARGIN_MS
from shared.domain.boards import Board
from shared.domain.sharding import Ranked, check_reshard, home_shard, split_by_home_shard

# Members (or remembered event ids) read from an old shard, and written to the new layout, per round trip.
COPY_CHUNK = 5_000
# Entries compared between two looks at the clock while verifying.
VERIFY_CHUNK = 10_000
TIMESTAMP_SUFFIX = "@ts"
"""A watermark field `<partition>@ts` holds the newest record time applied from the partition (apply_scores.lua)."""


class LayoutPart(StrEnum):
    BOARD = "board"
    """The shown entries, each shard's own key."""
    HIDDEN = "hidden"
    """Banned players' entries (`<shard key>:hidden`), kept beside their shard."""


class ReshardStatus(StrEnum):
    COPIED = "copied"
    """The new layout holds the board and was verified: switch BoardShards to it, then resume the updater."""
    INCOMPLETE = "incomplete"
    """The run reached its deadline; its progress is kept and the next run resumes it."""
    ALREADY_RUNNING = "already_running"
    """Another run holds the board's lock (a reshard or a rebuild); nothing was done."""
    CLEANED = "cleaned"
    """The old layout's keys are deleted."""


class ReshardRefused(ValueError):
    """The layouts are not in a state this command may change; nothing was written."""


class ReshardMismatch(RuntimeError):
    """The copy does not hold what the old layout holds (it moved during the copy): the copy is dropped."""


class BoardLayouts(Protocol):
    """A board's keys under any shard count (Redis in production). Failures are StoreUnavailable."""

    def lock(self, board: Board, token: str, ttl_ms: int) -> bool:
        """The board's rebuild lock: one reshard or rebuild of a board at a time."""
        ...

    def unlock(self, board: Board, token: str) -> None: ...

    def progress(self, board: Board, shards: int) -> dict[str, str]:
        """The progress of a reshard into the layout of `shards`."""
        ...

    def save_progress(self, board: Board, shards: int, fields: Mapping[str, str]) -> None: ...

    def holds_data(self, board: Board, shards: int) -> bool:
        """Whether any shard, hidden set or watermarks of the layout exists."""
        ...

    def watermarks(self, board: Board, shards: int) -> list[dict[str, str]]:
        """Every shard's watermark fields, in shard order."""
        ...

    def members(self, board: Board, shards: int, shard: int, part: LayoutPart, start: int) -> list[tuple[str, int]]:
        """Up to COPY_CHUNK (user id, raw score) of one shard, by rank from `start`."""
        ...

    def add_members(
        self,
        board: Board,
        shards: int,
        part: LayoutPart,
        by_shard: Mapping[int, Sequence[tuple[str, int]]],
        progress: Mapping[str, str],
    ) -> None:
        """Add members to the layout's shards, then record progress (into the same layout's progress)."""
        ...

    def remembered(self, board: Board, shards: int, shard: int, partition: str, start: int) -> list[tuple[bytes, int]]:
        """Up to COPY_CHUNK (event id, record time) one shard remembers for a partition, from `start`."""
        ...

    def remember(
        self,
        board: Board,
        shards: int,
        partition: str,
        event_ids: Sequence[tuple[bytes, int]],
        progress: Mapping[str, str],
    ) -> None:
        """Add remembered event ids to every shard of the layout, then record progress."""
        ...

    def finish(
        self, board: Board, from_shards: int, to_shards: int, watermarks: Mapping[str, str], partitions: Sequence[str]
    ) -> None:
        """Give every new shard the watermarks, and the new layout's keys the old layout's expiry times."""
        ...

    def size(self, board: Board, shards: int, part: LayoutPart) -> int: ...

    def ordered(self, board: Board, shards: int, part: LayoutPart, starts: Sequence[int]) -> Iterator[Ranked]:
        """The layout's members in the board's order (every shard's merged), raw scores, each shard read
        from its index in `starts`."""
        ...

    def delete(self, board: Board, shards: int, partitions: Sequence[str]) -> None:
        """Every key of the layout, and the progress of a reshard into it."""
        ...

    def forget_progress(self, board: Board, shards: int) -> None: ...


def carried_watermarks(per_shard: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The watermarks every new shard starts with: per partition the lowest offset of the old shards
    (a shard without one counts as -1: then none is carried), per `@ts` field the newest time.

    The lowest offset keeps exactly once (module docstring); the newest time is what one unsharded
    board would hold, so remembered ids are kept and forgotten as they were before sharding."""
    names = {name for fields in per_shard for name in fields}
    carried: dict[str, str] = {}
    for name in sorted(names):
        if name.endswith(TIMESTAMP_SUFFIX):
            carried[name] = str(max(int(fields[name]) for fields in per_shard if name in fields))
            continue
        lowest = min(int(fields.get(name, "-1")) for fields in per_shard)
        if lowest >= 0:
            carried[name] = str(lowest)
    return carried


def partitions_of(per_shard: Sequence[Mapping[str, str]]) -> list[str]:
    """Every partition some shard has a watermark for: each has remembered event ids to carry."""
    return sorted({name for fields in per_shard for name in fields if not name.endswith(TIMESTAMP_SUFFIX)})


@dataclass(frozen=True, slots=True)
class _Step:
    """One source the copy reads in chunks: an old shard's members, hidden entries, or remembered ids."""

    shard: int
    part: LayoutPart | None
    partition: str = ""


def copy_steps(from_shards: int, partitions: Sequence[str]) -> list[_Step]:
    """The copy's sources in the fixed order a resumed run counts its progress in."""
    steps = [_Step(shard, part) for part in LayoutPart for shard in range(from_shards)]
    steps += [_Step(shard, None, partition) for partition in partitions for shard in range(from_shards)]
    return steps


@dataclass(frozen=True, slots=True)
class ReshardOutcome:
    board: Board
    from_shards: int
    to_shards: int
    status: ReshardStatus
    players: int = 0
    hidden: int = 0
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "window": self.board.window.value,
            "period": self.board.period,
            "from_shards": self.from_shards,
            "to_shards": self.to_shards,
            "status": self.status.value,
        }
        if self.status is ReshardStatus.COPIED:
            answer["players"] = self.players
            answer["hidden"] = self.hidden
        if self.detail:
            answer["detail"] = self.detail
        return answer


def _following(step: int, at: int, copied: int) -> tuple[int, int]:
    """Where the copy goes on after a chunk: a chunk shorter than COPY_CHUNK was its source's last."""
    return (step, at + copied) if copied == COPY_CHUNK else (step + 1, 0)


def _progress(place: tuple[int, int]) -> dict[str, str]:
    return {"step": str(place[0]), "at": str(place[1])}


@dataclass
class BoardResharder:
    layouts: BoardLayouts
    new_token: Callable[[], str]
    monotonic: Callable[[], float] = time.monotonic

    def reshard(self, board: Board, from_shards: int, to_shards: int, seconds: float) -> ReshardOutcome:
        """Copy the board from the layout of `from_shards` into that of `to_shards` within `seconds`, and verify it."""
        check_reshard(from_shards, to_shards)
        deadline = self.monotonic() + seconds
        token = self.new_token()
        if not self.layouts.lock(board, token, int(seconds * 1000) + LOCK_MARGIN_MS):
            return ReshardOutcome(board, from_shards, to_shards, ReshardStatus.ALREADY_RUNNING)
        try:
            return self._reshard(board, from_shards, to_shards, deadline)
        finally:
            self.layouts.unlock(board, token)

    def _start_or_resume(self, board: Board, from_shards: int, to_shards: int) -> dict[str, str]:
        progress = self.layouts.progress(board, to_shards)
        if progress:
            if progress.get("from") != str(from_shards):
                raise ReshardRefused(
                    f"{board.key} is being resharded into {to_shards} shards from {progress.get('from')}, "
                    f"not {from_shards}: finish or clean up that run first"
                )
            return progress
        if self.layouts.holds_data(board, to_shards):
            raise ReshardRefused(
                f"the {to_shards}-shard layout of {board.key} already holds data that no reshard run wrote; "
                "it is left alone (delete it first if it is stale)"
            )
        # An empty old layout is copied too (a board nobody scored on yet): the caller checks that
        # `from_shards` is the layout the service is configured with.
        old = self.layouts.watermarks(board, from_shards)
        progress = {"from": str(from_shards), "partitions": json.dumps(partitions_of(old)), "step": "0", "at": "0"}
        self.layouts.save_progress(board, to_shards, progress)
        return progress

    def _reshard(self, board: Board, from_shards: int, to_shards: int, deadline: float) -> ReshardOutcome:
        progress = self._start_or_resume(board, from_shards, to_shards)
        if progress.get("state") == "verified":
            # Never compared again: once switched to, the new layout moves on while the old one stays.
            return ReshardOutcome(
                board, from_shards, to_shards, ReshardStatus.COPIED, detail="verified by an earlier run"
            )
        partitions: list[str] = json.loads(progress["partitions"])
        steps = copy_steps(from_shards, partitions)
        step, at = int(progress["step"]), int(progress["at"])
        while step < len(steps):
            if self.monotonic() >= deadline:
                return ReshardOutcome(
                    board, from_shards, to_shards, ReshardStatus.INCOMPLETE, detail=f"{step} of {len(steps)} sources"
                )
            step, at = self._copy(board, from_shards, to_shards, steps, step, at)
        if "verify_part" not in progress:
            watermarks = carried_watermarks(self.layouts.watermarks(board, from_shards))
            self.layouts.finish(board, from_shards, to_shards, watermarks, partitions)
            progress["verify_part"] = "0"
            self.layouts.save_progress(board, to_shards, {"verify_part": "0"})
        counts = self._verify(board, (from_shards, to_shards), progress, deadline, partitions)
        if counts is None:
            return ReshardOutcome(board, from_shards, to_shards, ReshardStatus.INCOMPLETE, detail="verifying")
        self.layouts.save_progress(board, to_shards, {"state": "verified"})
        return ReshardOutcome(board, from_shards, to_shards, ReshardStatus.COPIED, *counts)

    def _copy(
        self, board: Board, from_shards: int, to_shards: int, steps: Sequence[_Step], step: int, at: int
    ) -> tuple[int, int]:
        """One chunk of a source copied, with where the next one starts recorded as progress; that place."""
        source = steps[step]
        if source.part is None:
            event_ids = self.layouts.remembered(board, from_shards, source.shard, source.partition, at)
            following = _following(step, at, len(event_ids))
            self.layouts.remember(board, to_shards, source.partition, event_ids, _progress(following))
            return following
        members = self.layouts.members(board, from_shards, source.shard, source.part, at)
        following = _following(step, at, len(members))
        by_shard = split_by_home_shard(members, to_shards)
        self.layouts.add_members(board, to_shards, source.part, by_shard, _progress(following))
        return following

    def _verify(
        self,
        board: Board,
        shards: tuple[int, int],
        progress: dict[str, str],
        deadline: float,
        partitions: Sequence[str],
    ) -> tuple[int, int] | None:
        """Both layouts compared entry by entry in the board's order, part by part; None when the deadline
        came first (the place reached is in the progress). Each shard's place in the merged order is how
        many of its players have come by (every member sits in its home shard), so a run resumes the
        comparison where the last stopped: a running hash could not be saved."""
        parts = list(LayoutPart)
        for index in range(int(progress.get("verify_part", "0")), len(parts)):
            part = parts[index]
            old_size, new_size = (self.layouts.size(board, count, part) for count in shards)
            if old_size != new_size:
                self._mismatch(board, shards, partitions, f"{part}: {new_size} entries, the old layout {old_size}")
            places = [
                json.loads(progress.get(f"verify_{side}", "null")) or [0] * count
                for side, count in zip(("old", "new"), shards, strict=True)
            ]
            old, new = (self.layouts.ordered(board, count, part, at) for count, at in zip(shards, places, strict=True))
            for compared, (old_member, new_member) in enumerate(zip_longest(old, new), start=1):
                if old_member is None or old_member != new_member:
                    self._mismatch(
                        board, shards, partitions, f"{part}: {old_member} in the old layout, {new_member} in the new"
                    )
                for place, count in zip(places, shards, strict=True):
                    place[home_shard(old_member.user_id, count)] += 1
                if compared % VERIFY_CHUNK == 0 and self.monotonic() >= deadline:
                    place = {"verify_old": json.dumps(places[0]), "verify_new": json.dumps(places[1])}
                    self.layouts.save_progress(board, shards[1], {"verify_part": str(index), **place})
                    return None
            progress.update(verify_old="null", verify_new="null")
            self.layouts.save_progress(
                board, shards[1], {"verify_part": str(index + 1), "verify_old": "null", "verify_new": "null"}
            )
        return self.layouts.size(board, shards[1], LayoutPart.BOARD), self.layouts.size(
            board, shards[1], LayoutPart.HIDDEN
        )

    def _mismatch(self, board: Board, shards: tuple[int, int], partitions: Sequence[str], what: str) -> NoReturn:
        self.layouts.delete(board, shards[1], partitions)
        raise ReshardMismatch(
            f"the {shards[1]}-shard copy of {board.key} differs from the {shards[0]}-shard layout ({what}): did "
            "the updater run during the copy? The copy is dropped; pause the updater and run again"
        )

    def clean_up(self, board: Board, old_shards: int, live_shards: int) -> ReshardOutcome:
        """Delete the old layout of a board resharded into the live one (verified by `reshard`)."""
        check_reshard(old_shards, live_shards)
        token = self.new_token()
        if not self.layouts.lock(board, token, LOCK_MARGIN_MS):
            return ReshardOutcome(board, old_shards, live_shards, ReshardStatus.ALREADY_RUNNING)
        try:
            progress = self.layouts.progress(board, live_shards)
            if progress.get("from") != str(old_shards) or progress.get("state") != "verified":
                raise ReshardRefused(
                    f"no verified reshard of {board.key} from {old_shards} into {live_shards} shards: "
                    "the old layout is kept"
                )
            partitions = partitions_of(self.layouts.watermarks(board, old_shards))
            self.layouts.delete(board, old_shards, partitions)
            self.layouts.forget_progress(board, live_shards)
        finally:
            self.layouts.unlock(board, token)
        return ReshardOutcome(board, old_shards, live_shards, ReshardStatus.CLEANED)
