"""Every Redis key name the service uses.

A board's key is `Board.key` (shared/domain/boards.py). Its applied-offset watermarks and the
event ids applied to it carry the board's key as a prefix, hash tag included, so the apply
script's keys live in one Redis Cluster slot.
"""

from __future__ import annotations

from shared.domain.boards import Board
from shared.domain.sharding import home_shard


def board_shard_keys(board: Board, shards: int) -> tuple[str, ...]:
    """The sorted sets of a board split into `shards` (docs/BOARDS.md#sharded-boards); one shard is
    the board's own key. Shard i of S is `lb:{window:period#i/S}`: its own hash tag, so the shards
    spread over Redis Cluster slots, and S in the name, so two layouts of a board never share a key."""
    if shards == 1:
        return (board.key,)
    return tuple(f"lb:{{{board.window}:{board.period}#{shard:02d}/{shards}}}" for shard in range(shards))


def home_shard_key(board: Board, shards: int, user_id: str) -> str:
    """The key of the shard holding a player's entry (the board's own key when it is not sharded)."""
    return board_shard_keys(board, shards)[home_shard(user_id, shards)]


def applied_offsets_key(board: Board | str) -> str:
    """Of a board, or of one shard by its key (board_shard_keys)."""
    return f"{board if isinstance(board, str) else board.key}:applied"


def applied_events_key(board: Board | str, partition: str) -> str:
    return f"{board if isinstance(board, str) else board.key}:events:{partition}"


def hidden_scores_key(board: Board | str) -> str:
    """Banned players' scores on a board (or one shard, by its key): kept (and still added to) but
    shown to no one."""
    return f"{board if isinstance(board, str) else board.key}:hidden"


def moderation_state_key() -> str:
    """Who is banned, as the updater settled it: a hash of user id -> the ban's end (ms; 0: until
    lifted). One key in its own slot, read and written by the updater outside the apply script."""
    return "lb:moderation:banned"


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


# A board being rebuilt (shared/application/rebuild.py): a shadow board with its own watermarks and
# remembered ids, renamed over the live keys at the swap. Each carries the board's key, hash tag
# included, so the swap's keys share the board's Redis Cluster slot.
def shadow_board_key(board: Board | str) -> str:
    """Of a board, or of one shard by its key: the shadow's watermarks, remembered ids and hidden set
    are named from it as a board's are from the board's key."""
    return f"{board if isinstance(board, str) else board.key}:shadow"


def shadow_applied_offsets_key(board: Board) -> str:
    return f"{shadow_board_key(board)}:applied"


def shadow_applied_events_key(board: Board, partition: str) -> str:
    return f"{shadow_board_key(board)}:events:{partition}"


def shadow_hidden_scores_key(board: Board) -> str:
    return f"{shadow_board_key(board)}:hidden"


def rebuild_progress_key(board: Board) -> str:
    return f"{shadow_board_key(board)}:progress"


def rebuild_lock_key(board: Board) -> str:
    return f"{shadow_board_key(board)}:lock"


def reshard_progress_key(board: Board, shards: int) -> str:
    """How far a reshard of the board into `shards` shards has copied (shared/application/reshard.py)."""
    return f"{board.key}:reshard:{shards}:progress"
