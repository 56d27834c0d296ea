"""In-memory ports of the period closer, and a store that fails after a number of writes (a crash)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from shared.application.archive import ArchiveStore
from shared.application.queries import BoardSlice, Entry, PlayerSlice
from shared.domain.boards import Board


class InjectedCrash(RuntimeError):
    """Stands for the process dying between two writes."""


class MemoryArchiveStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.gets = 0
        self.listings = 0

    def get(self, key: str) -> bytes | None:
        self.gets += 1
        return self.objects.get(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.objects[key] = data

    def put_new(self, key: str, data: bytes, *, content_type: str) -> bool:
        if key in self.objects:
            return False
        self.objects[key] = data
        return True

    def keys(self, prefix: str) -> Iterator[str]:
        self.listings += 1
        return iter(sorted(key for key in self.objects if key.startswith(prefix)))

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


class CrashingStore:
    """Passes `writes` puts on to `store`, then raises InjectedCrash on every put."""

    def __init__(self, store: ArchiveStore, writes: int) -> None:
        self._store = store
        self._writes_left = writes

    def get(self, key: str) -> bytes | None:
        return self._store.get(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        if self._writes_left <= 0:
            raise InjectedCrash(f"crashed before writing {key}")
        self._writes_left -= 1
        self._store.put(key, data, content_type=content_type)

    def put_new(self, key: str, data: bytes, *, content_type: str) -> bool:
        if self._writes_left <= 0:
            raise InjectedCrash(f"crashed before writing {key}")
        self._writes_left -= 1
        return self._store.put_new(key, data, content_type=content_type)

    def keys(self, prefix: str) -> Iterator[str]:
        return self._store.keys(prefix)

    def delete(self, keys: Sequence[str]) -> None:
        self._store.delete(keys)


class ListedBoards:
    """Boards as lists of entries in their order; records every chunk size asked and every expiry set."""

    def __init__(self, boards: dict[Board, list[Entry]]) -> None:
        self.boards = boards
        self.chunk_sizes: list[int] = []
        self.expiries: dict[Board, int] = {}

    def size(self, board: Board) -> int:
        return len(self.boards.get(board, []))

    def chunks(self, board: Board, chunk: int) -> Iterator[list[Entry]]:
        entries = self.boards.get(board, [])
        for start in range(0, len(entries), chunk):
            self.chunk_sizes.append(chunk)
            yield entries[start : start + chunk]

    def expire(self, board: Board, at_ms: int) -> None:
        self.expiries[board] = at_ms


class FixedProgress:
    def __init__(self, behind: list[str] | None = None) -> None:
        self.lagging = list(behind or [])
        self.asked: list[int] = []

    def behind(self, until_ms: int) -> list[str]:
        self.asked.append(until_ms)
        return list(self.lagging)


class ExpiredRedis:
    """Redis after every board expired: it holds none; counts the reads it was asked for."""

    def __init__(self) -> None:
        self.calls = 0

    def page(self, board: Board, offset: int, limit: int, *, count_ahead: bool) -> BoardSlice:
        self.calls += 1
        return BoardSlice(total=0, first_index=offset, entries=())

    def around(self, board: Board, user_id: str, neighbours: int, *, count_ahead: bool) -> PlayerSlice | None:
        self.calls += 1
        return None

    def existing(self, boards: Sequence[Board]) -> set[Board]:
        return set()
