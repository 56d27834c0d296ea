"""tools.deploy_page against moto's S3: every file of web/ with its type, and the config the page reads."""

from __future__ import annotations

import json

import boto3
import pytest

from local_runtime.servers import LocalServers
from local_runtime.web_page import CONTENT_TYPES
from tests.support.local_stack import fresh_name
from tests.support.paths import REPO_ROOT
from tools import deploy_page

pytestmark = pytest.mark.integration


def test_the_page_and_its_config_land_in_the_bucket(servers: LocalServers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", servers.aws_endpoint_url)
    s3 = boto3.client("s3", endpoint_url=servers.aws_endpoint_url, region_name="us-east-1")
    bucket = fresh_name("page")
    s3.create_bucket(Bucket=bucket)
    live_url = "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod"

    assert deploy_page.main(["--bucket", bucket, "--live-url", live_url]) == 0

    web_files = sorted(file.name for file in (REPO_ROOT / "web").iterdir())
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted([*web_files, "config.json"])
    for name in web_files:
        stored = s3.get_object(Bucket=bucket, Key=name)
        assert stored["ContentType"] == CONTENT_TYPES["." + name.rsplit(".", 1)[1]]
        assert stored["Body"].read() == (REPO_ROOT / "web" / name).read_bytes()
    index = s3.get_object(Bucket=bucket, Key="index.html")
    assert index["CacheControl"] == "no-cache"
    config = s3.get_object(Bucket=bucket, Key="config.json")
    assert config["ContentType"] == "application/json" and config["CacheControl"] == "no-cache"
    assert json.loads(config["Body"].read()) == {"api_base": "", "live_url": live_url}


def test_a_url_the_page_could_not_use_uploads_nothing(
    servers: LocalServers, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", servers.aws_endpoint_url)
    s3 = boto3.client("s3", endpoint_url=servers.aws_endpoint_url, region_name="us-east-1")
    bucket = fresh_name("page")
    s3.create_bucket(Bucket=bucket)
    for bad in (
        ["--live-url", "ws://example.com/prod"],
        ["--api-url", "javascript:alert(1)"],
        ["--api-url", "https://x/?a=1"],
    ):
        assert deploy_page.main(["--bucket", bucket, *bad]) == 2
    assert "must be" in capsys.readouterr().err
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
