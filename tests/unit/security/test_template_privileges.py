"""template.yaml: who may write, what is throttled, and least privilege for each function's role."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tools.check_template import load_template

pytestmark = pytest.mark.security

TEMPLATE = load_template(REPO_ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def api_events(function_id: str) -> dict[str, dict[str, Any]]:
    events = RESOURCES[function_id]["Properties"]["Events"]
    return {name: event["Properties"] for name, event in events.items() if event["Type"] == "Api"}


def inline_actions(function_id: str) -> set[str]:
    """Actions of the function's inline statements, plus the names of SAM policy templates it uses."""
    actions: set[str] = set()
    for policy in RESOURCES[function_id]["Properties"].get("Policies", []):
        for statement in policy.get("Statement", []):
            actions.update(statement["Action"])
        actions.update(name for name in policy if name not in ("Statement", "Fn::If", "Ref"))
    return actions


def managed_policy_statements(function_id: str) -> list[dict[str, Any]]:
    """Statements of the template's own managed policies the function attaches (directly or under Fn::If)."""
    references: list[Any] = []
    for policy in RESOURCES[function_id]["Properties"].get("Policies", []):
        references += policy["Fn::If"][1:] if "Fn::If" in policy else [policy]
    statements: list[dict[str, Any]] = []
    for reference in references:
        target = RESOURCES.get(reference.get("Ref", "")) if isinstance(reference, dict) else None
        if target and target["Type"] == "AWS::IAM::ManagedPolicy":
            statements += target["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_write_routes_require_iam_and_read_routes_are_public() -> None:
    for props in api_events("MatchIngestFunction").values():
        assert props["Auth"]["Authorizer"] == "AWS_IAM"
    for props in api_events("LeaderboardQueryFunction").values():
        assert "Auth" not in props


def test_every_method_is_throttled_and_writes_have_their_own_limits() -> None:
    settings = RESOURCES["LeaderboardApi"]["Properties"]["MethodSettings"]
    by_path = {(item["ResourcePath"], item["HttpMethod"]): item for item in settings}
    assert by_path[("/*", "*")]["ThrottlingRateLimit"] == {"Ref": "ApiReadRateLimit"}
    assert by_path[("/*", "*")]["ThrottlingBurstLimit"] == {"Ref": "ApiReadBurstLimit"}
    for path in ("/~1v1~1scores", "/~1v1~1scores~1batch"):
        assert by_path[(path, "POST")]["ThrottlingRateLimit"] == {"Ref": "ApiWriteRateLimit"}
    assert not any(item["DataTraceEnabled"] for item in settings), "full request logging would log credentials"


def test_each_function_may_do_only_what_it_does() -> None:
    assert inline_actions("MatchIngestFunction") == {
        "kafka-cluster:Connect",
        "kafka-cluster:WriteDataIdempotently",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:WriteData",
    }
    assert inline_actions("LeaderboardQueryFunction") == set()
    assert inline_actions("ScoreUpdaterFunction") == {
        "SQSSendMessagePolicy",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:ReadData",
        "kafka-cluster:DescribeGroup",
        "kafka-cluster:AlterGroup",
    }


def test_beyond_that_a_function_may_only_read_the_redis_credential() -> None:
    for function_id in ("MatchIngestFunction", "LeaderboardQueryFunction", "ScoreUpdaterFunction"):
        for statement in managed_policy_statements(function_id):
            assert set(statement["Action"]) <= {"secretsmanager:GetSecretValue", "ssm:GetParameter"}, function_id


def test_no_statement_allows_every_resource_or_action() -> None:
    statements = [
        statement
        for resource in RESOURCES.values()
        for policy in resource.get("Properties", {}).get("Policies", [])
        for statement in policy.get("Statement", [])
    ] + [
        statement
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    for statement in statements:
        assert statement["Resource"] != "*"
        assert not any(action.endswith("*") for action in statement["Action"])


def test_kafka_is_encrypted_in_aws_and_secrets_are_not_echoed() -> None:
    parameters = TEMPLATE["Parameters"]
    assert "PLAINTEXT" not in parameters["KafkaSecurityProtocol"]["AllowedValues"]
    assert parameters["RedisUrl"]["NoEcho"] is True
    assert RESOURCES["DeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] is True
