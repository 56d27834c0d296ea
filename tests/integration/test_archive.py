"""Closing periods on real servers: scores through Kafka and the updater into a past day, the closer
(the function, and the service with a crash injected) archiving to moto's S3, and the query routes
answering the same JSON from S3 once Redis let the board go.

The stack runs with the default late-event graces, so every past day has closed; records are
produced straight to the topic with a `received_at` inside their day (as ingest would have
stamped them then), which the updater applies to that day's board. Days are drawn relative to
the clock (tests.support.past_days), so nothing depends on the date.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from local_runtime.invoke import invoke
from local_runtime.kafka_admin import ensure_topic
from local_runtime.servers import LocalServers
from local_runtime.stack import DEFAULT_ARCHIVE_BUCKET, RunningStack, moto_client
from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.board_export import RedisBoardExport
from shared.adapters.keys import applied_offsets_key
from shared.adapters.updater_progress import KafkaUpdaterProgress
from shared.application.archive import CloseStatus, PeriodCloser
from shared.domain.archive import ArchivedEntry, Manifest, board_prefix, checksum_of, decode_page, manifest_key
from shared.domain.boards import DAY_MS, Board, BoardSchedule, Window
from shared.domain.timestamps import now_ms
from tests.support.archive_fakes import CrashingStore, InjectedCrash
from tests.support.archive_stack import produce_day
from tests.support.local_stack import PAST_DAYS_CLOSED, redis_client_of, servers_environ, start_stack
from tests.support.past_days import reserve_boards, unused_past_board
from tests.support.paths import REPO_ROOT
from tests.support.sample_events import load_event
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.archive]

# The closer's schedule in this stack, as under `make run` but faster. Its ticks look about two weeks
# back; the other tests use periods at least a month back (tests.support.past_days), so ticks leave them alone.
SCHEDULE_SECONDS = 2.0

SAMPLE_CLOSE = load_event("close_period.json")
reserve_boards(Board(Window(SAMPLE_CLOSE["window"]), SAMPLE_CLOSE["period"]))


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    environ = servers_environ(servers, **PAST_DAYS_CLOSED)
    with start_stack(
        environ, tmp_path_factory.mktemp("archive-stack"), close_periods_every_seconds=SCHEDULE_SECONDS
    ) as running:
        yield running


@pytest.fixture
def store(stack: RunningStack) -> Iterator[redis.Redis]:
    with redis_client_of(stack) as client:
        yield client


def s3(stack: RunningStack) -> Any:
    return moto_client("s3", stack.aws_endpoint_url)


def wait_until_applied(store: redis.Redis, board: Board, players: int) -> None:
    wait_for(lambda: store.zcard(board.key) == players, timeout=60, what=f"{players} players on {board.key}")


def get(stack: RunningStack, path: str, **params: str | int) -> tuple[int, dict[str, Any], str]:
    response = requests.get(f"{stack.api_url}{path}", params=params, timeout=10)
    return response.status_code, response.json(), response.headers.get("Cache-Control", "")


def snapshot(stack: RunningStack, board: Board, users: list[str]) -> list[tuple[int, dict[str, Any]]]:
    base = f"/v1/leaderboards/{board.window}"
    answers = []
    top_queries: list[dict[str, str | int]] = [
        {"limit": 100},
        {"limit": 100, "offset": 90},
        {"limit": 7, "offset": 3, "ties": "shared"},
        {"limit": 100, "offset": 500},
    ]
    for params in top_queries:
        status, body, _ = get(stack, f"{base}/top", period=board.period, **params)
        answers.append((status, body))
    for user in [*users, "nobody-here"]:
        player_queries: list[dict[str, str | int]] = [{"around": 5}, {"around": 2, "ties": "shared"}]
        for params in player_queries:
            status, body, _ = get(stack, f"{base}/users/{user}", period=board.period, **params)
            answers.append((status, body))
    return answers


def two_days_after_close(board: Board) -> int:
    """When the day after next closes: its end (3 days after the board's start) plus the daily grace, 2 h."""
    return board.start_ms + 3 * DAY_MS + 2 * 3_600_000


def expiry_set(store: redis.Redis, board: Board) -> bool:
    """The closer gave the board and its watermarks their expiry. Redis has dropped them already if
    its clock is past it (-2), or still holds them until then (a clock moved by faketime)."""
    expiries = {store.pexpiretime(board.key), store.pexpiretime(applied_offsets_key(board))}
    return expiries in ({-2}, {two_days_after_close(board)})


def let_redis_expire(store: redis.Redis, board: Board) -> None:
    """What Redis does at the expiry instant, done now: the test must not depend on redis-server's clock."""
    assert expiry_set(store, board)
    store.delete(board.key, applied_offsets_key(board))


def close(stack: RunningStack, board: Board) -> dict[str, Any]:
    answer = stack.functions["PeriodCloserFunction"].invoke({"window": board.window.value, "period": board.period})
    (outcome,) = answer["boards"]
    return dict(outcome)


def test_a_closed_day_is_archived_and_answers_the_same_json_from_s3_once_redis_let_it_go(
    stack: RunningStack, store: redis.Redis
) -> None:
    board = unused_past_board(Window.DAILY)
    truth = produce_day(stack, board, 130, seed=1)
    wait_until_applied(store, board, len(truth))
    users = random.Random(2).sample(sorted(truth), 4)
    before = snapshot(stack, board, users)
    top = before[0][1]
    assert sum(entry["points"] for entry in top["entries"]) == sum(sorted(truth.values(), reverse=True)[:100])
    assert get(stack, "/v1/leaderboards/daily/top", period=board.period)[2] == "public, max-age=60"

    outcome = close(stack, board)
    assert (outcome["status"], outcome["total"]) == ("archived", len(truth))
    # Redis keeps it until the two days after it have closed too, then lets it go.
    assert outcome["redis_expires_at_ms"] == two_days_after_close(board)
    let_redis_expire(store, board)

    assert snapshot(stack, board, users) == before
    status, answer, cache = get(stack, "/v1/leaderboards/daily/top", period=board.period, limit=3)
    assert (status, cache) == (200, "public, max-age=300")
    assert answer["entries"] == top["entries"][:3]
    status, periods, _ = get(stack, "/v1/leaderboards/daily/periods")
    assert status == 200 and board.period in periods["periods"]

    objects = sorted(item["Key"] for item in s3(stack).list_objects_v2(Bucket=DEFAULT_ARCHIVE_BUCKET)["Contents"])
    assert close(stack, board)["status"] == "already_archived"
    again = sorted(item["Key"] for item in s3(stack).list_objects_v2(Bucket=DEFAULT_ARCHIVE_BUCKET)["Contents"])
    assert again == objects


def test_a_close_killed_halfway_is_finished_by_the_next_run_with_one_manifest(
    stack: RunningStack, store: redis.Redis
) -> None:
    board = unused_past_board(Window.DAILY)
    truth = produce_day(stack, board, 75, seed=3)
    wait_until_applied(store, board, len(truth))
    redis_order: list[tuple[str, float]] = store.zrevrange(board.key, 0, -1, withscores=True)  # type: ignore[assignment]
    points = [board.codec.points_of(score) for _, score in redis_order]
    expected = [
        ArchivedEntry(user, value, 1 + sum(other > value for other in points))
        for (user, _), value in zip(redis_order, points, strict=True)
    ]
    archive = S3ArchiveStore(s3(stack), DEFAULT_ARCHIVE_BUCKET)
    crashing = PeriodCloser(
        export=RedisBoardExport(redis.Redis.from_url(stack.redis_url)),
        store=CrashingStore(archive, writes=2),
        progress=KafkaUpdaterProgress(stack.kafka_bootstrap, stack.topic, stack.consumer_group),
        schedule=BoardSchedule((Window.DAILY,)),
        clock=now_ms,
        new_run_id=lambda: "crashed-run",
        page_size=20,
    )
    with pytest.raises(InjectedCrash):
        crashing.close(board)
    assert archive.get(manifest_key(board)) is None
    assert store.zcard(board.key) == len(truth) and store.pttl(board.key) == -1  # untouched in Redis
    assert list(archive.keys(board_prefix(board)))  # what the dead run left

    assert close(stack, board)["status"] == "archived"
    manifest = Manifest.from_json(archive.get(manifest_key(board)) or b"")
    assert manifest.run_id != "crashed-run" and manifest.checksum == checksum_of(expected)
    left = list(archive.keys(board_prefix(board)))
    assert left and all(key.startswith(f"{board_prefix(board)}{manifest.run_id}/") for key in left)
    pages = [decode_page(archive.get(manifest.page_key(page)) or b"") for page in range(manifest.page_count)]
    assert [entry for page in pages for entry in page] == expected
    assert [key for key in archive.keys(f"manifests/{board.window}/{board.period}")] == [manifest_key(board)]


def test_closing_is_refused_while_the_updater_has_not_applied_the_day(stack: RunningStack, store: redis.Redis) -> None:
    """The board is on Redis (the stack's updater applied it); the progress asked about is that of
    an updater of a topic of its own that holds the same day: behind until its group has
    committed past the day's records."""
    board = unused_past_board(Window.DAILY)
    truth = produce_day(stack, board, 10, seed=4)
    wait_until_applied(store, board, len(truth))
    lagging_topic = f"lagging-{uuid.uuid4().hex[:8]}"
    ensure_topic(stack.kafka_bootstrap, lagging_topic, 2)
    produce_day(stack, board, 10, seed=4, topic=lagging_topic)
    group = f"lagging-updater-{uuid.uuid4().hex[:6]}"
    archive = S3ArchiveStore(s3(stack), DEFAULT_ARCHIVE_BUCKET)
    closer = PeriodCloser(
        export=RedisBoardExport(redis.Redis.from_url(stack.redis_url)),
        store=archive,
        progress=KafkaUpdaterProgress(stack.kafka_bootstrap, lagging_topic, group),
        schedule=BoardSchedule((Window.DAILY,)),
        clock=now_ms,
        new_run_id=lambda: uuid.uuid4().hex,
    )

    outcome = closer.close(board)
    assert outcome.status is CloseStatus.UPDATER_BEHIND and len(outcome.behind) == 2
    assert archive.get(manifest_key(board)) is None and list(archive.keys(board_prefix(board))) == []
    assert store.zcard(board.key) == len(truth) and store.pttl(board.key) == -1

    consume_everything(stack.kafka_bootstrap, lagging_topic, group, records=20)
    assert closer.close(board).status is CloseStatus.ARCHIVED


def consume_everything(bootstrap: str, topic: str, group: str, *, records: int) -> None:
    """Read the topic as the updater would and commit each partition past its last record."""
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    seen: list[Any] = []

    def read_more() -> bool:
        seen.extend(record for batch in consumer.poll(timeout_ms=500).values() for record in batch)
        return len(seen) >= records

    try:
        wait_for(
            read_more,
            timeout=60,
            what=f"{records} records of {topic}",
        )
        last: dict[TopicPartition, int] = {}
        for record in seen:
            partition = TopicPartition(record.topic, record.partition)
            last[partition] = max(last.get(partition, -1), record.offset)
        consumer.commit({partition: OffsetAndMetadata(offset + 1, "", -1) for partition, offset in last.items()})
    finally:
        consumer.close(autocommit=False)


def test_the_local_schedule_closes_a_recent_day_by_itself(stack: RunningStack, store: redis.Redis) -> None:
    # Five days back or more: the two days after it have closed too, so Redis lets it go once archived.
    board = unused_past_board(Window.DAILY, newest_days_back=5, oldest_days_back=12)
    truth = produce_day(stack, board, 40, seed=5)
    archive = S3ArchiveStore(s3(stack), DEFAULT_ARCHIVE_BUCKET)
    data = wait_for(lambda: archive.get(manifest_key(board)), timeout=120, what=f"the manifest of {board.period}")
    # The expiry is set just after the manifest is written.
    wait_for(lambda: expiry_set(store, board), timeout=30, what=f"the expiry of {board.key}")
    let_redis_expire(store, board)
    assert Manifest.from_json(data).total == len(truth)  # archived only once the updater had applied all of it
    status, top, cache = get(stack, "/v1/leaderboards/daily/top", period=board.period, limit=100)
    assert (status, top["total"], cache) == (200, len(truth), "public, max-age=300")
    assert sorted(entry["points"] for entry in top["entries"]) == sorted(truth.values())


def test_a_past_period_nobody_scored_in_is_a_404_naming_it(stack: RunningStack) -> None:
    board = unused_past_board(Window.WEEKLY)
    for path in ("/v1/leaderboards/weekly/top", "/v1/leaderboards/weekly/users/someone"):
        status, answer, _ = get(stack, path, period=board.period)
        assert status == 404
        assert answer["error"]["code"] == "period_not_found" and board.period in answer["error"]["message"]


def test_the_sample_close_event_runs_through_local_invoke(servers: LocalServers, tmp_path: Any) -> None:
    answer = invoke(
        "PeriodCloserFunction",
        SAMPLE_CLOSE,
        template_path=REPO_ROOT / "template.yaml",
        stack_workdir=tmp_path,
        environ=servers_environ(servers),
    )
    assert answer == {
        "boards": [
            {"window": SAMPLE_CLOSE["window"], "period": SAMPLE_CLOSE["period"], "status": "not_in_redis", "total": 0}
        ]
    }


def test_a_manifest_is_written_only_where_none_is(stack: RunningStack) -> None:
    """The S3 condition the closer relies on when two runs race: the first manifest stands."""
    archive = S3ArchiveStore(s3(stack), DEFAULT_ARCHIVE_BUCKET)
    key = f"race-check/{uuid.uuid4().hex}.json"
    assert archive.put_new(key, b"first", content_type="application/json") is True
    assert archive.put_new(key, b"second", content_type="application/json") is False
    assert archive.get(key) == b"first"
    archive.delete([key])
