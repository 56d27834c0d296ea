"""The local runtime itself: real servers start, answer and leave nothing behind; the template
reader, the API Gateway stand-in and the MSK trigger behave like their AWS counterparts."""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis
from kafka import KafkaAdminClient, KafkaProducer

from local_runtime.api_gateway import ApiGateway
from local_runtime.lambda_host import LocalFunction, load_handler
from local_runtime.msk_trigger import MskTrigger
from local_runtime.servers import KafkaBroker, LocalServers, MotoServer, RedisServer
from local_runtime.template import ApiRoute, KafkaTrigger, parse_template

pytestmark = pytest.mark.integration


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_servers_answer_and_leave_no_process(tmp_path: Path) -> None:
    redis_server = RedisServer.start(tmp_path)
    broker = KafkaBroker.start(tmp_path)
    moto = MotoServer.start(tmp_path)
    pids = [redis_server.pid, broker.pid, moto.pid]
    try:
        assert redis.Redis.from_url(redis_server.url).ping()
        broker.create_topic("scores", 3)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        assert len(producer.partitions_for("scores")) == 3
        producer.close()
        sqs = boto3.client("sqs", endpoint_url=moto.endpoint_url, region_name="us-east-1")
        sqs.create_queue(QueueName="q")
        moto.reset()
        assert sqs.list_queues().get("QueueUrls", []) == []
    finally:
        for server in (moto, broker, redis_server):
            server.stop()
    assert not any(process_exists(pid) for pid in pids)


def test_redis_restart_on_the_same_port_keeps_the_append_only_file(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path, args=["--appendonly", "yes", "--appendfsync", "always"])
    try:
        redis.Redis.from_url(server.url).set("win", "1")
        server.kill()
        server.restart()
        assert redis.Redis.from_url(server.url).get("win") == b"1"
    finally:
        server.stop()


def test_servers_named_by_the_environment_are_used_not_started(tmp_path: Path) -> None:
    named = {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:2",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:3",
    }
    with LocalServers(tmp_path, named) as servers:
        assert (servers.redis, servers.kafka, servers.moto) == (None, None, None)
        assert (servers.redis_url, servers.kafka_bootstrap, servers.aws_endpoint_url) == tuple(named.values())


TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  ScoreTopic: {Type: String, Default: score-events}
  ScoreTopicPartitions: {Type: Number, Default: 4}
  UpdaterBatchSize: {Type: Number, Default: 500}
  UpdaterBatchingWindowSeconds: {Type: Number, Default: 1}
  UpdaterMaxRetryAttempts: {Type: Number, Default: 3}
  RedisUrl: {Type: String, Default: ""}
Conditions:
  HasRedisUrl: !Not [!Equals [!Ref RedisUrl, ""]]
Globals:
  Function:
    Timeout: 10
    Environment:
      Variables:
        KAFKA_TOPIC: !Ref ScoreTopic
        REDIS_URL: !If [HasRedisUrl, !Ref RedisUrl, "redis://default/0"]
        SERVICE: !Sub "leaderboard-${Stage}-${AWS::Region}"
Resources:
  Queue: {Type: AWS::SQS::Queue}
  MatchIngestFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/match_ingest/
      Handler: app.lambda_handler
      Events:
        Post: {Type: Api, Properties: {Path: /v1/scores, Method: post, Auth: {Authorizer: AWS_IAM}}}
  LeaderboardQueryFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/leaderboard_query/
      Handler: app.lambda_handler
      Events:
        User: {Type: Api, Properties: {Path: "/v1/leaderboards/monthly/users/{user_id}", Method: GET}}
  ScoreUpdaterFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/score_updater/
      Handler: app.lambda_handler
      Environment:
        Variables:
          DEAD_LETTER_QUEUE_URL: !Ref Queue
          QUEUE_ARN: !GetAtt Queue.Arn
"""

MSK_EVENT = """
      Events:
        ScoreEvents:
          Type: MSK
          Properties:
            Topics: [!Ref ScoreTopic]
            BatchSize: !Ref UpdaterBatchSize
            MaximumBatchingWindowInSeconds: !Ref UpdaterBatchingWindowSeconds
            ConsumerGroupId: !Sub updater-${Stage}
            MaximumRetryAttempts: !Ref UpdaterMaxRetryAttempts
            FunctionResponseTypes: [ReportBatchItemFailures]
"""

EVENT_SOURCE_MAPPING = """
  ScoreEvents:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !GetAtt ScoreUpdaterFunction.Arn
      Topics: [!Ref ScoreTopic]
      BatchSize: !Ref UpdaterBatchSize
      MaximumBatchingWindowInSeconds: !Ref UpdaterBatchingWindowSeconds
      AmazonManagedKafkaEventSourceConfig: {ConsumerGroupId: !Sub "updater-${Stage}"}
      MaximumRetryAttempts: !Ref UpdaterMaxRetryAttempts
      FunctionResponseTypes: [ReportBatchItemFailures]
"""


@pytest.mark.parametrize("trigger_text", [MSK_EVENT, EVENT_SOURCE_MAPPING], ids=["msk-event", "event-source-mapping"])
def test_template_reader_resolves_what_a_local_run_needs(tmp_path: Path, trigger_text: str) -> None:
    template = parse_template(TEMPLATE + trigger_text, tmp_path, {"ScoreTopic": "t1", "Stage": "test"})

    updater = template.function("ScoreUpdaterFunction")
    assert updater.handler_file == tmp_path / "functions/score_updater/app.py"
    assert updater.environment == {
        "KAFKA_TOPIC": "t1",
        "REDIS_URL": "redis://default/0",
        "SERVICE": "leaderboard-test-us-east-1",
    }
    assert updater.unresolved_environment == ("DEAD_LETTER_QUEUE_URL", "QUEUE_ARN")
    assert updater.timeout_seconds == 10
    assert set(template.routes) == {
        ApiRoute("MatchIngestFunction", "POST", "/v1/scores", auth_required=True),
        ApiRoute("LeaderboardQueryFunction", "GET", "/v1/leaderboards/monthly/users/{user_id}", auth_required=False),
    }
    trigger = template.kafka_trigger_for("ScoreUpdaterFunction")
    assert (trigger.topic, trigger.batch_size, trigger.batching_window_seconds) == ("t1", 500, 1.0)
    assert (trigger.consumer_group_id, trigger.maximum_retry_attempts) == ("updater-test", 3)
    assert trigger.reports_batch_item_failures
    assert template.score_topic_partitions == 4


def call(port: int, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_api_gateway_routes_authenticates_and_bounds_requests(tmp_path: Path) -> None:
    handler_file = tmp_path / "app.py"
    handler_file.write_text(
        "import json\n"
        "def lambda_handler(event, context):\n"
        "    if event['pathParameters'] and event['pathParameters']['user_id'] == 'crash':\n"
        "        raise RuntimeError('boom')\n"
        "    return {'statusCode': 200, 'body': json.dumps(event)}\n"
    )
    echo = LocalFunction("echo", load_handler(handler_file))
    routes = (
        ApiRoute("Ingest", "POST", "/v1/scores", auth_required=True),
        ApiRoute("Query", "GET", "/v1/leaderboards/monthly/users/{user_id}", auth_required=False),
    )
    api = ApiGateway(routes, {"Ingest": echo, "Query": echo}, api_key="k3y", port=0).start()
    try:
        status, event = call(api.port, "GET", "/v1/leaderboards/monthly/users/p%201?around=2&around=3")
        assert status == 200
        assert event["resource"] == "/v1/leaderboards/monthly/users/{user_id}"
        assert event["pathParameters"] == {"user_id": "p%201"}  # REST APIs pass the path on still encoded
        assert event["queryStringParameters"] == {"around": "3"}
        assert event["multiValueQueryStringParameters"] == {"around": ["2", "3"]}
        assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"

        assert call(api.port, "POST", "/v1/scores", b"{}", x_api_key="k3y")[1]["body"] == "{}"
        assert call(api.port, "POST", "/v1/scores", b"{}")[1]["error"]["code"] == "unauthorized"
        assert call(api.port, "POST", "/v1/scores", b"{}", x_api_key="nope")[0] == 403
        for too_big in (b"x" * (1024 * 1024 + 1), b"x" * (8 * 1024 * 1024)):  # the client sees 413, not a reset
            assert call(api.port, "POST", "/v1/scores", too_big, x_api_key="k3y")[0] == 413
        assert call(api.port, "GET", "/v1/nowhere")[0] == 404
        assert call(api.port, "DELETE", "/v1/scores")[0] == 405
        assert call(api.port, "GET", "/v1/leaderboards/monthly/users/crash")[1]["error"]["code"] == "internal_error"
    finally:
        api.stop()


def test_msk_trigger_retries_a_reported_failure_from_its_offset(tmp_path: Path) -> None:
    broker = KafkaBroker.start(tmp_path)
    try:
        topic, group = f"t-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:8]}"
        broker.create_topic(topic, 2)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for i in range(10):
            producer.send(topic, key=f"p{i}".encode(), value=str(i).encode(), partition=i % 2)
        producer.close()

        delivered: Counter[tuple[str, int]] = Counter()
        applied: set[tuple[str, int]] = set()

        def updater_failing_once(event: dict[str, Any], context: Any) -> dict[str, Any]:
            failures = []
            for name, records in event["records"].items():
                for record in records:
                    delivered[name, record["offset"]] += 1
                    if name == f"{topic}-0" and record["offset"] == 2 and delivered[name, 2] == 1:
                        failures.append({"itemIdentifier": {"partition": name, "offset": 2}})
                        break  # like the real updater: the rest of the partition waits
                    applied.add((name, record["offset"]))
            return {"batchItemFailures": failures}

        settings = KafkaTrigger(
            "Updater", "ScoreEvents", topic, 100, 0.0, group, 3, ("ReportBatchItemFailures",), "TRIM_HORIZON", None
        )
        trigger = MskTrigger(LocalFunction("updater", updater_failing_once), settings, bootstrap=broker.bootstrap)
        trigger.start()
        deadline = time.monotonic() + 30
        while len(applied) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        trigger.stop()

        assert len(applied) == 10
        assert {key for key, times in delivered.items() if times > 1} == {(f"{topic}-0", 2)}
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        committed = {tp.partition: meta.offset for tp, meta in admin.list_group_offsets(group)[group].items()}
        admin.close()
        assert committed == {0: 5, 1: 5}
    finally:
        broker.stop()
