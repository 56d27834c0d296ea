"""The Redis users of template.yaml, as ACL users of a real redis-server: each function does its
work as its own user, the query user cannot write, and the default user lets nobody in.

The template's access strings are ElastiCache RBAC rules, which are Redis ACL rules; they are
applied here as they are written there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import redis
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from local_runtime.kafka_event import lambda_kafka_event
from local_runtime.lambda_host import LambdaContext, load_handler
from local_runtime.servers import RedisServer
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import submission_key
from shared.adapters.redis_client import create_redis_client
from shared.adapters.shadow_board import RedisShadowBoard
from shared.adapters.submission_ledger import SubmissionLedger
from shared.application.apply import PendingScore
from shared.application.ingest import SubmissionState
from shared.domain.boards import Window
from shared.domain.errors import StoreUnavailable
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.record_codec import encode_record, record_key
from shared.domain.timestamps import now_ms
from tests.support.deployed_template import deployed
from tests.support.paths import EVENTS_DIR, REPO_ROOT

pytestmark = pytest.mark.security

PERIOD = "2011-05"
MONTH = Window.MONTHLY.parse_period(PERIOD)
ADMIN = "test-admin"


@pytest.fixture(scope="module")
def template_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, dict[str, str]]]:
    """A redis-server holding the template's users; yields it and each function's REDIS_URL."""
    resources = deployed(CreateRedis="true")
    server = RedisServer.start(tmp_path_factory.mktemp("redis-users"))
    admin_password = uuid.uuid4().hex
    try:
        bootstrap = redis.Redis(port=server.port)  # the default user, until it is switched off below
        bootstrap.execute_command("ACL", "SETUSER", ADMIN, "on", f">{admin_password}", "~*", "&*", "+@all")  # type: ignore[no-untyped-call]
        bootstrap.close()
        admin = redis.Redis(port=server.port, username=ADMIN, password=admin_password)
        urls = {}
        for resource in ("RedisDefaultUser", "RedisIngestUser", "RedisQueryUser", "RedisUpdaterUser"):
            user = resources[resource]["Properties"]
            password = uuid.uuid4().hex
            rules = ["reset", *user["AccessString"].split(), f">{password}"]
            admin.execute_command("ACL", "SETUSER", user["UserName"], *rules)  # type: ignore[no-untyped-call]
            urls[resource] = f"redis://{quote(user['UserName'])}:{password}@127.0.0.1:{server.port}/0"
        admin.close()
        yield server, urls
    finally:
        server.stop()


def client(url: str) -> redis.Redis:
    created = create_redis_client(url, decode_responses=True)
    assert isinstance(created, redis.Redis)
    return created


def score_batch(events: list[ScoreEvent]) -> dict[str, Any]:
    partition = TopicPartition("score-events", 0)
    records = [
        ConsumerRecord(
            topic=partition.topic,
            partition=0,
            leader_epoch=0,
            offset=offset,
            timestamp=event.occurred_at_ms,
            timestamp_type=0,
            key=record_key(event),
            value=encode_record(event),
            headers=[],
            checksum=None,
            serialized_key_size=-1,
            serialized_value_size=-1,
            serialized_header_size=-1,
        )
        for offset, event in enumerate(events)
    ]
    return lambda_kafka_event({partition: records}, "arn:aws:kafka:local", "127.0.0.1:9092")


def api_request(sample: str, **path_parameters: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / sample).read_text())
    event["queryStringParameters"] = {"period": PERIOD}
    event["multiValueQueryStringParameters"] = {"period": [PERIOD]}
    if path_parameters:
        event["pathParameters"] = path_parameters
        event["path"] = event["path"].rsplit("/", 1)[0] + "/" + path_parameters["user_id"]
    return event


def handler(function: str, redis_url: str) -> Any:
    return load_handler(
        REPO_ROOT / "functions" / function / "app.py", repo_root=REPO_ROOT, environment={"REDIS_URL": redis_url}
    )


def test_each_function_works_as_its_own_user(template_users: tuple[RedisServer, dict[str, str]]) -> None:
    _, urls = template_users
    start = MONTH.start_ms
    events = [
        ScoreEvent(event_id_for(f"m-{i}", user), f"m-{i}", user, points, start + i * 1000)
        for i, (user, points) in enumerate([("alice", 3), ("bob", 2), ("alice", 1)])
    ]
    updater = handler("score_updater", urls["RedisUpdaterUser"])
    assert updater(score_batch(events), LambdaContext("updater")) == {"batchItemFailures": []}

    query = handler("leaderboard_query", urls["RedisQueryUser"])
    top = query(api_request("get_top.json"), LambdaContext("query"))
    assert top["statusCode"] == 200
    assert [(e["user_id"], e["points"]) for e in json.loads(top["body"])["entries"]] == [("alice", 4), ("bob", 2)]
    player = query(api_request("get_player.json", user_id="bob"), LambdaContext("query"))
    assert (player["statusCode"], json.loads(player["body"])["rank"]) == (200, 2)

    ledger = SubmissionLedger(client(urls["RedisIngestUser"]), window_seconds=60)
    assert ledger.claim(events[:2]) == [None, None]
    ledger.confirm(events[:1])
    earlier = ledger.claim(events[:2])
    assert [entry.state if entry else None for entry in earlier] == [SubmissionState.ACCEPTED, SubmissionState.PENDING]


def test_the_query_user_reads_every_window_with_shared_ranks(
    template_users: tuple[RedisServer, dict[str, str]],
) -> None:
    _, urls = template_users
    today = Window.DAILY.current(now_ms())
    days = [today, *(Window.DAILY.board_at(today.start_ms - back * 86_400_000) for back in (1, 2))]
    writer = client(urls["RedisUpdaterUser"])
    for day in days:
        writer.zadd(day.key, {user: day.encode(5, day.start_ms + second) for second, user in enumerate("abc")})

    query = handler("leaderboard_query", urls["RedisQueryUser"])

    def get(path: str, **params: str) -> dict[str, Any]:
        event: dict[str, Any] = json.loads((EVENTS_DIR / "get_top.json").read_text())
        event.update(path=path, queryStringParameters=params, multiValueQueryStringParameters={})
        answer = query(event, LambdaContext("query"))
        assert answer["statusCode"] == 200, answer["body"]
        return dict(json.loads(answer["body"]))

    yesterday = days[1].period
    # ties=shared counts inside the read-only scripts (ZCOUNT); the periods list asks EXISTS.
    top = get("/v1/leaderboards/daily/top", period=yesterday, ties="shared")
    assert [entry["rank"] for entry in top["entries"]] == [1, 1, 1]
    assert get("/v1/leaderboards/daily/users/c", period=yesterday, ties="shared")["rank"] == 1
    assert get("/v1/leaderboards/daily/periods")["periods"][1:3] == [days[1].period, days[2].period]


def test_the_query_user_cannot_write(template_users: tuple[RedisServer, dict[str, str]]) -> None:
    _, urls = template_users
    reader = client(urls["RedisQueryUser"])
    board = MONTH.key
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.zadd(board, {"mallory": 10**9})
    with pytest.raises(StoreUnavailable) as refused:
        RedisBoardWriter(reader).apply(
            MONTH,
            "score-events-0",
            [PendingScore(99, bytes(16), "mallory", 10**6, 1, -1)],
        )
    assert isinstance(refused.value.__cause__, redis.exceptions.NoPermissionError)
    with pytest.raises(redis.exceptions.ResponseError):
        reader.eval_ro("return redis.call('ZADD', KEYS[1], 1, 'mallory')", 1, board)
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.flushall()
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.get(submission_key(event_id_for("m-0", "alice")))
    assert reader.zscore(board, "mallory") is None


def test_writers_stay_on_their_own_keys(template_users: tuple[RedisServer, dict[str, str]]) -> None:
    _, urls = template_users
    ingest = client(urls["RedisIngestUser"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        ingest.zadd(MONTH.key, {"mallory": 1})
    updater = client(urls["RedisUpdaterUser"])
    for dangerous in (updater.flushall, updater.keys, lambda: updater.config_get("*")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            dangerous()


def test_the_default_user_lets_nobody_in(template_users: tuple[RedisServer, dict[str, str]]) -> None:
    server, urls = template_users
    anonymous = redis.Redis(port=server.port)
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    default_url = urls["RedisDefaultUser"]
    with pytest.raises(redis.exceptions.AuthenticationError):
        client(default_url).ping()


def test_the_rebuild_works_as_the_updater_user(template_users: tuple[RedisServer, dict[str, str]]) -> None:
    """BoardRebuildFunction runs as the updater's user: its shadow, lock, progress and swaps need no more."""
    _, urls = template_users
    rebuilt = Window.MONTHLY.parse_period("2011-06")
    updater = client(urls["RedisUpdaterUser"])
    shadow = RedisShadowBoard(updater)
    assert shadow.lock(rebuilt, "run-1", 60_000)
    assert not shadow.lock(rebuilt, "run-2", 60_000)
    shadow.discard(rebuilt)
    shadow.save_progress(rebuilt, {"origin": "replay"})
    writer = RedisBoardWriter(updater)
    event_id = bytes.fromhex(event_id_for("m", "zoe"))
    writer.apply(rebuilt, "c/score-events-0", [PendingScore(0, event_id, "zoe", 5, 0, -1)], into_shadow=True)
    assert shadow.size(rebuilt) == 1
    assert shadow.swap_replayed(rebuilt, "run-1") is None
    assert updater.zscore(rebuilt.key, "zoe") is not None

    shadow.add(rebuilt, [("amy", rebuilt.codec.encode(7, 0))], {"origin": "archive:r", "page": "1"})
    assert [entry.user_id for chunk in shadow.chunks(rebuilt, 10) for entry in chunk] == ["amy"]
    shadow.swap_restored(rebuilt, "run-1", now_ms() + 60_000)
    assert updater.zrange(rebuilt.key, 0, -1) == ["amy"]
    shadow.unlock(rebuilt, "run-1")
    assert shadow.lock(rebuilt, "run-2", 60_000)
    shadow.unlock(rebuilt, "run-2")


def test_sharded_boards_work_as_the_template_users(template_users: tuple[RedisServer, dict[str, str]]) -> None:
    """BOARD_SHARDS: the updater writes each shard, the query user reads them all (ZSCORE, the shard script
    by EVALSHA_RO then EVAL_RO, ZCOUNT for shared ranks), within their key patterns and commands."""
    _, urls = template_users
    start = MONTH.start_ms
    players = [("alice", 3), ("bob", 2), ("carol", 2), ("dave", 7), ("erin", 1)]
    events = [
        ScoreEvent(event_id_for(f"s-{i}", user), f"s-{i}", user, points, start + i * 1000)
        for i, (user, points) in enumerate(players)
    ]
    shards = {"BOARD_SHARDS": "monthly=4", "LEADERBOARD_WINDOWS": "monthly"}
    updater = load_handler(
        REPO_ROOT / "functions" / "score_updater" / "app.py",
        repo_root=REPO_ROOT,
        environment={"REDIS_URL": urls["RedisUpdaterUser"], **shards},
    )
    assert updater(score_batch(events), LambdaContext("updater")) == {"batchItemFailures": []}
    query = load_handler(
        REPO_ROOT / "functions" / "leaderboard_query" / "app.py",
        repo_root=REPO_ROOT,
        environment={"REDIS_URL": urls["RedisQueryUser"], **shards},
    )
    top = query(api_request("get_top.json"), LambdaContext("query"))
    assert top["statusCode"] == 200, top["body"]
    assert [e["user_id"] for e in json.loads(top["body"])["entries"]] == ["dave", "alice", "bob", "carol", "erin"]
    player = query(api_request("get_player.json", user_id="bob"), LambdaContext("query"))
    assert (player["statusCode"], json.loads(player["body"])["rank"]) == (200, 3), player["body"]
