"""Big boards loaded fast: ZADD commands built as RESP bytes with numpy and written to each key's node.

The sharded bench first loaded through redis-py pipelines, which pack each argument in Python: the
client, not the servers, set its rate (25-45 k players/s, over an hour for 50 M x 3 layouts). The
bench's players are `player-` and eight digits, with integer scores below 10^12, so each member is
two RESP bulk strings of fixed width. A chunk of members is then one byte matrix, a row per member,
whose digit columns are filled a column at a time; a shard's ZADD is its rows' bytes after a header.
The server stores a zero-padded score as the same double, so the board is the one redis-py loaded.

`ZaddLoader` sends each command over a socket of its own to the primary that owns its key's slot,
with a few commands in flight per node, so the client builds the next chunk while the servers insert.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from types import TracebackType
from typing import BinaryIO, Self

import numpy as np
import numpy.typing as npt

from local_runtime.servers import LOOPBACK
from shared.domain.sharding import home_shard

ID_PREFIX = "player-"
ID_DIGITS = 8
SCORE_DIGITS = 12
MAX_PLAYERS = 10**ID_DIGITS
MAX_SCORE = 10**SCORE_DIGITS - 1
COMMANDS_IN_FLIGHT = 4  # per connection: enough to keep a server busy while the next chunk is built
REPLY_SECONDS = 120.0  # one ZADD of tens of thousands of members into a 50 M-member set takes well under this

_ROW = f"${SCORE_DIGITS}\r\n{'0' * SCORE_DIGITS}\r\n${len(ID_PREFIX) + ID_DIGITS}\r\n{ID_PREFIX}{'0' * ID_DIGITS}\r\n"
_ROW_TEMPLATE = np.frombuffer(_ROW.encode("ascii"), dtype=np.uint8)
_SCORE_END = len(f"${SCORE_DIGITS}\r\n") + SCORE_DIGITS  # one past the score's last digit
_ID_END = len(_ROW) - 2  # one past the id's last digit, before the closing CRLF
_ZERO = ord("0")

Rows = npt.NDArray[np.uint8]
Integers = npt.NDArray[np.int64]


def user_id(index: int) -> str:
    """The bench's id of player `index`: 15 characters, as in the issue's memory figures."""
    return f"{ID_PREFIX}{index:0{ID_DIGITS}d}"


def _write_digits(rows: Rows, values: Integers, end: int, digits: int) -> None:
    remaining = values.copy()
    for column in range(end - 1, end - 1 - digits, -1):
        rows[:, column] = _ZERO + remaining % 10
        remaining //= 10


def member_rows(players: Integers, scores: Integers) -> Rows:
    """The ZADD arguments (score, then id) of each player index in `players`: a row each."""
    if len(players) != len(scores):
        raise ValueError(f"{len(players)} players and {len(scores)} scores")
    if len(players) and (int(players.min()) < 0 or int(players.max()) >= MAX_PLAYERS):
        raise ValueError(f"player indexes must be within 0..{MAX_PLAYERS - 1}")
    if len(scores) and (int(scores.min()) < 0 or int(scores.max()) > MAX_SCORE):
        raise ValueError(f"scores must be within 0..{MAX_SCORE}")
    rows = np.tile(_ROW_TEMPLATE, (len(players), 1))
    _write_digits(rows, scores, _SCORE_END, SCORE_DIGITS)
    _write_digits(rows, players, _ID_END, ID_DIGITS)
    return rows


def home_shards(players: Integers, shards: int) -> npt.NDArray[np.intp]:
    """Each player's home shard, as the reader computes it (shared.domain.sharding.home_shard)."""
    homes = (home_shard(user_id(index), shards) for index in players.tolist())
    return np.fromiter(homes, dtype=np.intp, count=len(players))


def highest_first(scores: Integers) -> Integers:
    """Player indexes by score, highest first, and equal scores by id, the larger first: the board's order.

    Sent in this order, each member is the lowest so far and lands at the head of its skiplist, as
    when a server loads an RDB file or a replica syncs: a member then costs the server the same at
    50 M as at the start, where random order costs it several times more per member once the set
    outgrows the CPU caches. The set holds the same members, scores and bytes either way.
    """
    return np.argsort(scores, kind="stable")[::-1].astype(np.int64)


def zadd_command(key: str, rows: Rows) -> list[bytes]:
    """`ZADD key score id score id ...` in RESP, as the pieces a connection sends one after another."""
    name = key.encode("utf-8")
    header = b"*%d\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n" % (2 + 2 * len(rows), len(name), name)
    return [header, rows.tobytes()]


class ZaddLoader:
    """ZADD commands for the keys of `nodes` (key -> port of the primary owning its slot, on loopback).

    `finish` waits for the replies still due and returns the members the commands added: the
    bench checks it against the players it sent, so a dropped or duplicated chunk shows.
    """

    def __init__(self, nodes: Mapping[str, int]) -> None:
        self._port_of = dict(nodes)
        self._sockets: dict[int, socket.socket] = {}
        self._replies: dict[int, BinaryIO] = {}
        self._pending: dict[int, int] = {}  # commands sent and not yet answered, by node
        self.added = 0
        try:
            for port in sorted(set(self._port_of.values())):
                connection = socket.create_connection((LOOPBACK, port), timeout=REPLY_SECONDS)
                self._sockets[port] = connection
                self._replies[port] = connection.makefile("rb")
                self._pending[port] = 0
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for port, connection in self._sockets.items():
            if port in self._replies:
                self._replies[port].close()
            connection.close()

    def zadd(self, key: str, rows: Rows) -> None:
        if not len(rows):
            return
        port = self._port_of[key]
        self._sockets[port].sendall(b"".join(zadd_command(key, rows)))
        self._pending[port] += 1
        while self._pending[port] > COMMANDS_IN_FLIGHT:
            self._read_reply(port)

    def finish(self) -> int:
        for port in self._sockets:
            while self._pending[port]:
                self._read_reply(port)
        return self.added

    def _read_reply(self, port: int) -> None:
        line = self._replies[port].readline()
        if not line.startswith(b":"):
            raise RuntimeError(f"ZADD on node {port} answered {line[:200]!r}")
        self.added += int(line[1:])
        self._pending[port] -= 1
