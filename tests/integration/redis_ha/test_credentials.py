"""Redis credentials from Secrets Manager or SSM (moto server), on a redis-server that requires them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis

from local_runtime.servers import LocalServers, RedisServer
from shared.adapters.redis_client import create_redis_client
from tests.support.http_api import Api
from tests.support.local_stack import own_servers_environ, start_stack
from tests.support.past_months import Month
from tests.support.waiting import wait_for

ACL_USER, ACL_PASSWORD, DEFAULT_PASSWORD = "leaderboard", "acl-Pa55:word/@", "default-Pa55"


@pytest.fixture(scope="module")
def guarded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server with a password on the default user and an ACL user of its own."""
    server = RedisServer.start(tmp_path_factory.mktemp("guarded"))
    try:
        # Set once it answers: the readiness check PINGs without credentials.
        admin = redis.Redis(host=server.host, port=server.port)
        admin.acl_setuser(
            ACL_USER, enabled=True, passwords=[f"+{ACL_PASSWORD}"], keys="*", channels="*", commands=["+@all"]
        )
        admin.config_set("requirepass", DEFAULT_PASSWORD)
        admin.close()
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws(servers: LocalServers, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """boto3 clients on the session's moto server; handlers in this process reach it the same way."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", servers.aws_endpoint_url)
    return {
        "secrets": boto3.client("secretsmanager", endpoint_url=servers.aws_endpoint_url),
        "ssm": boto3.client("ssm", endpoint_url=servers.aws_endpoint_url),
    }


def secret(aws: dict[str, Any], value: str) -> str:
    arn: str = aws["secrets"].create_secret(Name=f"redis-{uuid.uuid4().hex[:8]}", SecretString=value)["ARN"]
    return arn


def ssm_parameter_arn(aws: dict[str, Any], value: str) -> str:
    name = f"/leaderboard/{uuid.uuid4().hex[:8]}/redis"
    aws["ssm"].put_parameter(Name=name, Value=value, Type="SecureString")
    arn: str = aws["ssm"].get_parameter(Name=name)["Parameter"]["ARN"]
    return arn


def url_of(server: RedisServer) -> str:
    return f"redis://{server.host}:{server.port}/0"


def whoami(client: Any) -> str:
    return str(client.execute_command("ACL", "WHOAMI"))


@pytest.mark.parametrize(
    ("where", "value", "user"),
    [
        ("secretsmanager", json.dumps({"username": ACL_USER, "password": ACL_PASSWORD}), ACL_USER),
        ("secretsmanager", DEFAULT_PASSWORD, "default"),
        ("ssm", json.dumps({"username": ACL_USER, "password": ACL_PASSWORD}), ACL_USER),
        ("ssm", json.dumps({"password": DEFAULT_PASSWORD}), "default"),
    ],
)
def test_credentials_come_from_the_secret(
    guarded_redis: RedisServer, aws: dict[str, Any], where: str, value: str, user: str
) -> None:
    reference = secret(aws, value) if where == "secretsmanager" else ssm_parameter_arn(aws, value)
    client = create_redis_client(url_of(guarded_redis), secret_reference=reference, decode_responses=True)
    assert whoami(client) == user


def test_without_credentials_the_server_refuses(guarded_redis: RedisServer) -> None:
    with pytest.raises(redis.AuthenticationError):
        create_redis_client(url_of(guarded_redis)).ping()


def test_credentials_in_the_url_still_work(guarded_redis: RedisServer) -> None:
    url = f"redis://{ACL_USER}:{ACL_PASSWORD.replace(':', '%3A').replace('/', '%2F').replace('@', '%40')}@"
    client = create_redis_client(f"{url}{guarded_redis.host}:{guarded_redis.port}/0", decode_responses=True)
    assert whoami(client) == ACL_USER


def test_a_secret_that_is_not_there_fails_at_client_creation(guarded_redis: RedisServer, aws: dict[str, Any]) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret-AbCdEf"
    with pytest.raises(redis.ConnectionError, match="no-such-secret"):
        create_redis_client(url_of(guarded_redis), secret_reference=missing)


def test_the_whole_service_reads_its_redis_password_from_secrets_manager(
    guarded_redis: RedisServer, servers: LocalServers, aws: dict[str, Any], tmp_path: Path, month: Month
) -> None:
    arn = secret(aws, json.dumps({"username": ACL_USER, "password": ACL_PASSWORD}))
    environ = own_servers_environ(
        REDIS_URL=url_of(guarded_redis),
        REDIS_SECRET_ARN=arn,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
    )
    with start_stack(environ, tmp_path) as stack:
        api = Api(stack.api_url, stack.api_key)
        event = {"match_id": f"m-{uuid.uuid4().hex[:8]}", "user_id": "guarded", "points": 5, "occurred_at": month.at(9)}
        assert api.post("/v1/scores", event)[0] == 202
        status, answer = api.post("/v1/scores/batch", {"scores": [event]})
        assert (status, answer["accepted"], answer["duplicates"]) == (202, 1, 1)
        path = f"/v1/leaderboards/monthly/users/guarded?period={month.period}"
        body = wait_for(lambda: api.get(path)[1].get("points") == 5 and api.get(path)[1], what="the score")
        assert (body["rank"], body["total"]) == (1, 1)
