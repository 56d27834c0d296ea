"""Which AWS endpoint a local run uses: one named by the environment, a real LocalStack, or its own moto."""

from __future__ import annotations

from pathlib import Path

from local_runtime.servers import LocalServers, named_aws_endpoint


def test_aws_endpoint_url_wins() -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "LOCALSTACK_HOST": "127.0.0.1:4566"}
    assert named_aws_endpoint(environ) == "http://127.0.0.1:5000"


def test_a_localstack_host_is_found_through_localstack_client() -> None:
    assert named_aws_endpoint({"LOCALSTACK_HOST": "127.0.0.1:4599"}) == "http://127.0.0.1:4599"
    assert named_aws_endpoint({"LOCALSTACK_HOST": "127.0.0.1"}) == "http://127.0.0.1:4566"


def test_without_either_the_run_starts_its_own(tmp_path: Path) -> None:
    assert named_aws_endpoint({}) == ""
    servers = LocalServers(tmp_path, {"LOCALSTACK_HOST": "127.0.0.1:4599"})
    assert servers.aws_endpoint_url == "http://127.0.0.1:4599", "no moto is started for a named LocalStack"
