"""Every Redis key name the service uses.

A board's key is `Board.key` (shared/domain/boards.py). Its applied-offset watermarks and the
event ids applied to it carry the board's key as a prefix, hash tag included, so the apply
script's keys live in one Redis Cluster slot.
"""

from __future__ import annotations

from shared.domain.boards import Board


def board_shard_keys(board: Board, shards: int) -> tuple[str, ...]:
    """The sorted sets of a board split into `shards` (docs/BOARDS.md#sharded-boards); one shard is
    the board's own key. Shard i of S is `lb:{window:period#i/S}`: its own hash tag, so the shards
    spread over Redis Cluster slots, and S in the name, so two layouts of a board never share a key."""
    if shards == 1:
        return (board.key,)
    return tuple(f"lb:{{{board.window}:{board.period}#{shard:02d}/{shards}}}" for shard in range(shards))


def applied_offsets_key(board: Board | str) -> str:
    """Of a board, or of one shard by its key (board_shard_keys)."""
    return f"{board if isinstance(board, str) else board.key}:applied"


def applied_events_key(board: Board | str, partition: str) -> str:
    return f"{board if isinstance(board, str) else board.key}:events:{partition}"


def dead_letter_key(fingerprint: str) -> str:
    return f"lb:deadletter:{fingerprint}"


def submission_key(event_id: str) -> str:
    return f"lb:submission:{event_id}"


# Live push (shared/adapters/live_state.py). Each key stands alone (no multi-key command), so
# they may sit in any Redis Cluster slot.
def live_connection_key(connection_id: str) -> str:
    return f"lb:live:conn:{connection_id}"


def live_ip_key(source_ip: str) -> str:
    return f"lb:live:ip:{source_ip}"


def live_subscribers_key(window: str) -> str:
    return f"lb:live:subs:{window}"


def live_push_claim_key(board: Board) -> str:
    return f"lb:live:pushed:{board.window}:{board.period}"


def live_trailing_key(board: Board) -> str:
    return f"lb:live:trailing:{board.window}:{board.period}"


def live_top_digest_key(board: Board) -> str:
    return f"lb:live:top:{board.window}:{board.period}"


def live_standings_key(board: Board) -> str:
    return f"lb:live:standing:{board.window}:{board.period}"
