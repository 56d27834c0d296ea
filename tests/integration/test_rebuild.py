"""Rebuilding a board on real servers (redis-server, Tansu, moto): from a closed day's archive, and
by replaying Kafka while scores keep arriving through ingest and the updater. Each result is
compared with ground truth computed independently (what was produced, or what ingest acknowledged).
"""

from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis

from local_runtime.invoke import invoke
from local_runtime.servers import LocalServers
from local_runtime.stack import DEFAULT_ARCHIVE_BUCKET, RunningStack, moto_client
from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.kafka_replay import KafkaReplaySource
from shared.adapters.keys import rebuild_lock_key, rebuild_progress_key, shadow_board_key
from shared.adapters.moderation_state import RedisModerationState
from shared.adapters.shadow_board import RedisShadowBoard
from shared.adapters.updater_progress import KafkaUpdaterProgress
from shared.application.archive import PeriodCloser
from shared.application.rebuild import BoardRebuilder, RebuildSource, RebuildStatus
from shared.domain.archive import Manifest, decode_page, manifest_key
from shared.domain.boards import Board, BoardSchedule, Window
from shared.domain.timestamps import now_ms
from tests.support.archive_stack import produce_day
from tests.support.http_api import Api
from tests.support.local_stack import PAST_DAYS_CLOSED, redis_client_of, servers_environ, start_stack
from tests.support.past_days import reserve_boards, unused_past_board
from tests.support.paths import REPO_ROOT
from tests.support.rebuild import stack_cluster
from tests.support.sample_events import load_event
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.archive]

# The live-traffic producer: at most this many posts, and at most this long.
LIVE_POSTS = 300
LIVE_SECONDS = 30.0


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = servers_environ(servers, **PAST_DAYS_CLOSED)
    with start_stack(environ, tmp_path_factory.mktemp("rebuild-stack")) as running:
        yield running


@pytest.fixture
def store(stack: RunningStack) -> Iterator[redis.Redis]:
    with redis_client_of(stack) as client:
        yield client


def s3(stack: RunningStack) -> Any:
    return moto_client("s3", stack.aws_endpoint_url)


def rebuild(stack: RunningStack, board: Board, **options: Any) -> dict[str, Any]:
    event = {"window": board.window.value, "period": board.period, **options}
    return dict(stack.functions["BoardRebuildFunction"].invoke(event))


def ranked(store: redis.Redis, board: Board) -> list[tuple[str, int]]:
    """The board in its order, best first: (user, points)."""
    scored = cast(list[tuple[str, float]], store.zrevrange(board.key, 0, -1, withscores=True))
    return [(member, board.codec.points_of(score)) for member, score in scored]


def board_points(store: redis.Redis, board: Board) -> dict[str, int]:
    return dict(ranked(store, board))


def archived_day(stack: RunningStack, store: redis.Redis, players: int, seed: int) -> tuple[Board, dict[str, int]]:
    """A past day scored through Kafka and the updater, archived by the closer, then gone from Redis."""
    board = unused_past_board(Window.DAILY)
    truth = produce_day(stack, board, players, seed=seed)
    wait_for(lambda: store.zcard(board.key) == players, timeout=60, what=f"{players} players on {board.key}")
    answer = stack.functions["PeriodCloserFunction"].invoke({"window": "daily", "period": board.period})
    assert answer["boards"][0]["status"] == "archived"
    store.delete(board.key)  # as Redis does once its expiry passes, or after losing it
    return board, truth


def archive_order(stack: RunningStack, board: Board) -> list[tuple[str, int]]:
    client = s3(stack)
    manifest = Manifest.from_json(
        client.get_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest_key(board))["Body"].read()
    )
    entries = []
    for page in range(manifest.page_count):
        body = client.get_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest.page_key(page))["Body"].read()
        entries += [(entry.user_id, entry.points) for entry in decode_page(body)]
    return entries


def test_a_closed_day_deleted_from_redis_is_restored_from_its_archive(stack: RunningStack, store: redis.Redis) -> None:
    board, truth = archived_day(stack, store, 120, seed=11)
    assert store.exists(board.key) == 0

    outcome = rebuild(stack, board)
    assert (outcome["source"], outcome["status"], outcome["players"]) == ("archive", "swapped", len(truth))
    assert board_points(store, board) == truth
    # The same order as the archive (ties included), so first_reached ranks answer as before.
    assert ranked(store, board) == archive_order(stack, board)
    assert store.pexpiretime(board.key) > now_ms()
    assert not store.keys(f"{shadow_board_key(board)}*")


def put_page(stack: RunningStack, board: Board, page: int, body: bytes | None) -> None:
    client = s3(stack)
    manifest = Manifest.from_json(
        client.get_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest_key(board))["Body"].read()
    )
    if body is None:
        client.delete_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest.page_key(page))
    else:
        client.put_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest.page_key(page), Body=body)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "misses boards/daily/"),
        ("garbage", "(page 0) changed since its manifest was written"),
        ("points", "(page 0) changed since its manifest was written"),
        ("points, version 1 manifest", "checksum differs from the manifest's"),
    ],
)
def test_a_damaged_archive_is_a_clear_error_and_the_live_board_stays(
    stack: RunningStack, store: redis.Redis, damage: str, message: str
) -> None:
    board, truth = archived_day(stack, store, 30, seed=12)
    live = {"someone-live": 7}
    store.zadd(board.key, {"someone-live": board.codec.encode(7, 0)})
    if damage == "missing":
        put_page(stack, board, 0, None)
    elif damage == "garbage":
        put_page(stack, board, 0, b"\x1f\x8bnot gzip at all")
    else:
        entries = [
            [user, points + (1 if number == 0 else 0), 0]
            for number, (user, points) in enumerate(archive_order(stack, board))
        ]
        put_page(stack, board, 0, gzip.compress(json.dumps(entries).encode()))
        if "version 1" in damage:
            # Without per-page checksums the changed page is found at the end, by the board's checksum.
            client = s3(stack)
            data = client.get_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest_key(board))["Body"].read()
            older = dataclasses.replace(Manifest.from_json(data), page_checksums=())
            assert b'"format_version": 2' in data and b'"format_version": 1' in older.to_json()
            client.put_object(Bucket=DEFAULT_ARCHIVE_BUCKET, Key=manifest_key(board), Body=older.to_json())

    with pytest.raises(Exception, match=re.escape(message)) as raised:
        rebuild(stack, board)
    assert f"the archive of daily {board.period} " in str(raised.value)
    assert board_points(store, board) == live
    assert not store.keys(f"{shadow_board_key(board)}*")
    assert truth


def test_a_second_run_while_one_holds_the_lock_does_nothing(stack: RunningStack, store: redis.Redis) -> None:
    board, _ = archived_day(stack, store, 10, seed=13)
    store.set(rebuild_lock_key(board), "another-run", px=60_000)
    try:
        assert rebuild(stack, board)["status"] == "already_running"
        assert store.exists(board.key, shadow_board_key(board)) == 0
    finally:
        store.delete(rebuild_lock_key(board))
    assert rebuild(stack, board)["status"] == "swapped"


class CrashAfter(RedisShadowBoard):
    """The Redis shadow, dying (as a killed run would) after `pages` pages were added."""

    def __init__(self, client: Any, pages: int) -> None:
        super().__init__(client)
        self.pages = pages

    def add(self, board: Board, scores: Any, progress: Any) -> None:
        if self.pages == 0:
            raise RuntimeError("killed")
        self.pages -= 1
        super().add(board, scores, progress)


class EagerSwaps:
    """The replay, read a few records at a time, claiming after each read to have reached the end:
    so the swap is asked while the shadow is still behind the live board."""

    def __init__(self, source: KafkaReplaySource) -> None:
        self.source = source

    def open(self, from_ms: int, positions: Any) -> Any:
        reader = self.source.open(from_ms, positions)
        original = reader.read

        def read() -> Any:
            records, _ = original()
            return records, True

        reader.read = read  # type: ignore[method-assign]
        return reader


def rebuilder(stack: RunningStack, shadow: RedisShadowBoard, replay: Any = None) -> BoardRebuilder:
    client = shadow.client
    archive = S3ArchiveStore(s3(stack), DEFAULT_ARCHIVE_BUCKET)
    schedule = BoardSchedule(windows=(Window.DAILY, Window.WEEKLY), retention_ms={Window.DAILY: 0, Window.WEEKLY: 0})
    return BoardRebuilder(
        shadow=shadow,
        writer=RedisBoardWriter(client),
        archive=archive,
        replay=replay or KafkaReplaySource(stack.kafka_bootstrap, stack.topic, stack_cluster(stack)),
        schedule=schedule,
        closer=PeriodCloser(
            export=RedisBoardExport(client),
            store=archive,
            progress=KafkaUpdaterProgress(stack.kafka_bootstrap, stack.topic, "unused"),
            schedule=schedule,
            clock=now_ms,
            new_run_id=lambda: uuid.uuid4().hex,
        ),
        clock=now_ms,
        new_token=lambda: uuid.uuid4().hex,
        bans=RedisModerationState(client),
    )


def test_a_restore_killed_halfway_leaves_only_its_shadow_and_the_next_run_finishes_it(
    stack: RunningStack, store: redis.Redis
) -> None:
    board, truth = archived_day(stack, store, 2_500, seed=14)  # three pages
    client = redis.Redis.from_url(stack.redis_url)
    with pytest.raises(RuntimeError, match="killed"):
        rebuilder(stack, CrashAfter(client, pages=2)).rebuild(board, RebuildSource.ARCHIVE, 60)
    assert store.exists(board.key) == 0  # nothing visible
    assert store.zcard(shadow_board_key(board)) == 2_000
    assert store.hget(rebuild_progress_key(board), "page") == "2"

    outcome = rebuild(stack, board)
    assert (outcome["status"], outcome["players"]) == ("swapped", len(truth))
    assert board_points(store, board) == truth
    assert not store.keys(f"{shadow_board_key(board)}*")


def test_a_restore_out_of_time_answers_incomplete_and_the_next_run_resumes(
    stack: RunningStack, store: redis.Redis
) -> None:
    board, truth = archived_day(stack, store, 2_500, seed=16)  # three pages
    ticks = itertools.count()
    slow = rebuilder(stack, RedisShadowBoard(redis.Redis.from_url(stack.redis_url)))
    slow.monotonic = lambda: float(next(ticks))  # each look at the clock: one second later

    outcome = slow.rebuild(board, RebuildSource.ARCHIVE, 2.0)  # time for one page

    assert (outcome.status, outcome.detail) == (RebuildStatus.INCOMPLETE, "1 of 3 pages")
    assert store.exists(board.key) == 0 and store.exists(rebuild_lock_key(board)) == 0
    assert store.hget(rebuild_progress_key(board), "page") == "1"
    assert rebuild(stack, board)["status"] == "swapped"
    assert board_points(store, board) == truth


def test_the_swap_is_refused_while_the_shadow_is_behind_the_live_watermarks(
    stack: RunningStack, store: redis.Redis
) -> None:
    board = unused_past_board(Window.DAILY)
    truth = produce_day(stack, board, 60, seed=15)
    wait_for(lambda: board_points(store, board) == truth, timeout=60, what=f"the day on {board.key}")
    client = redis.Redis.from_url(stack.redis_url)
    replay = EagerSwaps(KafkaReplaySource(stack.kafka_bootstrap, stack.topic, stack_cluster(stack), records_per_read=7))

    outcome = rebuilder(stack, RedisShadowBoard(client), replay).rebuild(board, RebuildSource.REPLAY, 120)

    assert outcome.status is RebuildStatus.SWAPPED
    assert board_points(store, board) == truth
    assert outcome.swap_attempts > 1  # refused while behind
    assert not store.keys(f"{shadow_board_key(board)}*")


def test_a_current_board_deleted_is_rebuilt_by_replay_while_scores_keep_arriving(
    stack: RunningStack, store: redis.Redis
) -> None:
    api = Api(stack.api_url, stack.api_key)
    acknowledged: list[tuple[str, str, int]] = []  # daily period, user, points
    failures: list[str] = []

    def post(number: int) -> None:
        user = f"live-{number % 40:02d}"
        points = 1 + number % 9
        status, body = api.post(
            "/v1/scores",
            {"match_id": f"m-{uuid.uuid4().hex}", "user_id": user, "points": points, "occurred_at": now_ms()},
        )
        if status == 202:
            acknowledged.append((body["periods"]["daily"], user, points))
        else:
            failures.append(f"{status} {body}")

    board = Window.DAILY.current(now_ms())
    # Other modules' stacks may have scored today's board in this Redis: start from nothing.
    store.delete(*store.keys(f"{board.key}*") or ["-"])
    for number in range(60):
        post(number)
    wait_for(
        lambda: store.zcard(board.key) >= 1 and applied(store, board, acknowledged),
        timeout=60,
        what="the first posts applied",
    )

    # The disaster: the board, its watermarks and remembered ids are lost.
    store.delete(*store.keys(f"{board.key}*"))

    stop = threading.Event()

    def keep_posting() -> None:
        deadline = time.monotonic() + LIVE_SECONDS
        for number in range(60, 60 + LIVE_POSTS):
            if stop.is_set() or time.monotonic() > deadline:
                return
            post(number)

    producer = threading.Thread(target=keep_posting, name="live-posts")
    producer.start()
    try:
        time.sleep(0.5)
        outcome = rebuild(stack, board, source="replay")
    finally:
        producer.join(timeout=LIVE_SECONDS + 30)
        stop.set()
    assert not failures, failures[:3]
    assert (outcome["source"], outcome["status"]) == ("replay", "swapped"), outcome
    wait_for(
        lambda: applied(store, board, acknowledged), timeout=60, what="every acknowledged post on the rebuilt board"
    )
    assert board_points(store, board) == truth(board, acknowledged)
    assert not store.keys(f"{shadow_board_key(board)}*")


def truth(board: Board, acknowledged: list[tuple[str, str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for period, user, points in acknowledged:
        if period == board.period:
            totals[user] = totals.get(user, 0) + points
    return totals


def applied(store: redis.Redis, board: Board, acknowledged: list[tuple[str, str, int]]) -> bool:
    return board_points(store, board) == truth(board, list(acknowledged))


SAMPLE_REBUILD = load_event("rebuild_board.json")
reserve_boards(Board(Window(SAMPLE_REBUILD["window"]), SAMPLE_REBUILD["period"]))


def test_the_sample_rebuild_event_runs_through_local_invoke(servers: LocalServers, tmp_path: Any) -> None:
    """No archive for the sample's day, so it is replayed; nobody scored in it, so the board is empty."""
    answer = invoke(
        "BoardRebuildFunction",
        SAMPLE_REBUILD,
        template_path=REPO_ROOT / "template.yaml",
        stack_workdir=tmp_path,
        environ=servers_environ(servers),
    )
    assert {key: answer[key] for key in ("window", "period", "source", "status", "players")} == {
        "window": SAMPLE_REBUILD["window"],
        "period": SAMPLE_REBUILD["period"],
        "source": "replay",
        "status": "swapped",
        "players": 0,
    }
