"""Query latency at board scale, and Redis memory per player.

The board is loaded fast with pipelined multi-member ZADDs of scores in the monthly window's
encoding, under the board's key. Each query handler is then called
in-process on prebuilt API Gateway events and compared with the raw redis-py calls a
hand-written service would make (ZREVRANGE 0 9 WITHSCORES; ZREVRANK; ZREVRANK + ZREVRANGE for ±4),
and with RedisBoardReader alone (the Lua scripts without the HTTP layer).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import redis

from bench.environment import BenchServers, settled_memory
from bench.progress import Progress
from bench.results import Result, Target, percentile, summary_ms
from bench.scale import Scale
from bench.workload import get_player_event, get_top_event, random_score, short_id, uuid_ids
from shared.adapters.board_reader import RedisBoardReader
from shared.adapters.redis_client import create_redis_client
from shared.domain.boards import Board, Window

QUERY_PERIOD = "2030-01"  # a board of its own, apart from the one the updater benchmarks fill
QUERY_BOARD = Board(Window.MONTHLY, QUERY_PERIOD)
UUID_BOARD = Board(Window.MONTHLY, "2030-02")
MEMBERS_PER_ZADD = 1_000
ZADDS_PER_PIPELINE = 20
DESIGN_MEMORY = "3.0 GB for 25 M members with 15-byte ids (~120 B/member); the seed estimated 1.6 GB"


@dataclass
class QueryRun:
    results: list[Result] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)  # series name -> seconds


@dataclass(frozen=True)
class LoadedBoard:
    key: str
    members: int
    id_length: int
    seconds: float
    used_memory_delta: int
    memory_usage: int


def load_board(client: redis.Redis, key: str, ids: Iterable[str], rng: random.Random) -> tuple[int, float]:
    """ZADD every id with a random encoded score; returns (members added, seconds)."""
    started = time.perf_counter()
    added = 0
    pipe = client.pipeline(transaction=False)
    queued = 0
    members: dict[str, int] = {}
    for user_id in ids:
        members[user_id] = random_score(rng)
        if len(members) == MEMBERS_PER_ZADD:
            pipe.zadd(key, members)
            members, queued = {}, queued + 1
            if queued == ZADDS_PER_PIPELINE:
                added += sum(pipe.execute())
                queued = 0
    if members:
        pipe.zadd(key, members)
    added += sum(pipe.execute())
    return added, time.perf_counter() - started


def _used_memory(client: redis.Redis) -> int:
    return int(settled_memory(client)["used_memory"])


def load_and_measure(
    client: redis.Redis, key: str, ids: Iterable[str], rng: random.Random, id_length: int
) -> LoadedBoard:
    client.delete(key)
    before = _used_memory(client)
    added, seconds = load_board(client, key, ids, rng)
    after = _used_memory(client)
    usage = int(client.memory_usage(key, samples=0) or 0)
    return LoadedBoard(key, added, id_length, seconds, after - before, usage)


def memory_result(board: LoadedBoard, label: str) -> Result:
    per_player = board.used_memory_delta / board.members
    return Result(
        name=f"Redis memory per player, {label}, {_count(board.members)} players",
        value=per_player,
        unit="B/player",
        parameters={
            "players": board.members,
            "id_length": board.id_length,
            "used_memory_delta_bytes": board.used_memory_delta,
            "memory_usage_key_bytes_per_player": round(board.memory_usage / board.members, 2),
            "payload_bytes_per_player": board.id_length + 8,
            "projected_gb_at_25m": round(per_player * 25_000_000 / 1e9, 2),
            "load_seconds": round(board.seconds, 2),
            "load_rate_per_second": round(board.members / board.seconds),
            "design_reference": DESIGN_MEMORY,
        },
    )


def _count(number: int) -> str:
    return f"{number // 1_000_000} M" if number % 1_000_000 == 0 else f"{number:,}"


CallFactory = Callable[[str], Callable[[], Any]]


def _timed(users: list[str], make_call: CallFactory, check: Callable[[Any], None]) -> list[float]:
    durations = []
    for user_id in users:
        call = make_call(user_id)
        started = time.perf_counter()
        answer = call()
        durations.append(time.perf_counter() - started)
        check(answer)
    return durations


def _ok(response: Any) -> None:
    if response["statusCode"] != 200:
        raise RuntimeError(f"query handler answered {response['statusCode']}: {response.get('body', '')[:300]}")


def _nothing(answer: Any) -> None:
    pass


def _found(answer: Any) -> None:
    if answer is None:
        raise RuntimeError("a player loaded on the board was not found")


def run_queries(servers: BenchServers, scale: Scale, progress: Progress, seed: int) -> tuple[QueryRun, LoadedBoard]:
    outcome = QueryRun()
    rng = random.Random(seed)
    client = servers.redis_client()
    key = QUERY_BOARD.key
    players = scale.board_players
    progress.step(f"loading a {_count(players)}-player board (pipelined ZADD, {MEMBERS_PER_ZADD} members/command)")
    board = load_and_measure(client, key, (short_id(i) for i in range(players)), rng, len(short_id(0)))
    progress.step(
        f"board loaded in {board.seconds:.1f} s ({board.members / board.seconds:,.0f} players/s); "
        f"{board.used_memory_delta / board.members:.1f} B/player"
    )
    outcome.results.append(memory_result(board, f"{board.id_length}-char ids"))

    query = servers.load_function("LeaderboardQueryFunction", "score-events")
    store = RedisBoardReader(create_redis_client(servers.redis.url))
    raw = servers.redis_client()
    samples, warmup = scale.query_samples, scale.query_warmup
    users = [short_id(rng.randrange(players)) for _ in range(samples + warmup)]

    # Each call is built just before it is timed (a request event is what Lambda's runtime hands over);
    # prebuilding thousands of events would only give the garbage collector more to scan.
    series: dict[str, tuple[CallFactory, Callable[[Any], None]]] = {
        "top 10 / handler": (lambda u: partial(query, get_top_event(QUERY_PERIOD)), _ok),
        "top 10 / store": (lambda u: partial(store.page, QUERY_BOARD, 0, 10, count_ahead=False), _nothing),
        "top 10 / raw": (lambda u: partial(raw.zrevrange, key, 0, 9, withscores=True), _nothing),
        "player rank / handler": (lambda u: partial(query, get_player_event(QUERY_PERIOD, u, 0)), _ok),
        "player rank / store": (lambda u: partial(store.around, QUERY_BOARD, u, 0, count_ahead=False), _found),
        "player rank / raw": (lambda u: partial(raw.zrevrank, key, u), _found),
        "rank ± 4 / handler": (lambda u: partial(query, get_player_event(QUERY_PERIOD, u, 4)), _ok),
        "rank ± 4 / store": (lambda u: partial(store.around, QUERY_BOARD, u, 4, count_ahead=False), _found),
        "rank ± 4 / raw": (lambda u: partial(_raw_around, raw, key, u, 4), _found),
    }
    for name, (make_call, check) in series.items():
        gc.collect()
        durations = _timed(users, make_call, check)[warmup:]
        outcome.latencies[name] = durations
        stats = summary_ms(durations)
        progress.step(
            f"query {name}: p50 {stats['p50_ms']:.3f} ms, p99 {stats['p99_ms']:.3f} ms ({len(durations)} calls)"
        )

    for query_name in ("top 10", "player rank", "rank ± 4"):
        handler = sorted(outcome.latencies[f"{query_name} / handler"])
        raw_floor = sorted(outcome.latencies[f"{query_name} / raw"])
        store_times = sorted(outcome.latencies[f"{query_name} / store"])
        raw_name = {
            "top 10": "ZREVRANGE 0 9 WITHSCORES",
            "player rank": "ZREVRANK",
            "rank ± 4": "ZREVRANK + ZREVRANGE r-4 r+4 WITHSCORES",
        }[query_name]
        for pct in (50, 99):
            outcome.results.append(
                Result(
                    name=f"query handler {query_name}, p{pct}, {_count(players)} players",
                    value=percentile(handler, pct) * 1000,
                    unit="ms",
                    floor=percentile(raw_floor, pct) * 1000,
                    floor_name=f"redis-py {raw_name}",
                    parameters={
                        "players": players,
                        "calls": len(handler),
                        "warmup_calls": warmup,
                        "handler": summary_ms(handler),
                        "leaderboard_store_only": summary_ms(store_times),
                        "raw_redis_py": summary_ms(raw_floor),
                    },
                    targets=[Target("p99 ≤ 2 ms", 2.0, "max")] if pct == 99 else [],
                )
            )
    client.delete(key)
    return outcome, board


def _raw_around(client: redis.Redis, key: str, user_id: str, around: int) -> Any:
    rank = client.zrevrank(key, user_id)
    if rank is None:
        return None
    return client.zrevrange(key, max(0, int(rank) - around), int(rank) + around, withscores=True)  # type: ignore[arg-type]


def run_uuid_memory(servers: BenchServers, scale: Scale, progress: Progress, seed: int) -> Result:
    rng = random.Random(seed)
    client = servers.redis_client()
    key = UUID_BOARD.key
    progress.step(f"loading a {_count(scale.board_players)}-player board with 36-char UUID ids")
    board = load_and_measure(client, key, uuid_ids(scale.board_players, rng), rng, 36)
    client.delete(key)
    result = memory_result(board, "36-char UUID ids")
    progress.step(f"UUID board: {result.value:.1f} B/player, loaded in {board.seconds:.1f} s")
    return result
