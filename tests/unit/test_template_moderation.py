"""template.yaml's moderation: the admin routes behind IAM, a role that may call them and nothing
else, an append-only audit table, and the admin function's least privilege."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.deployed_template import RESOURCES, deployed

pytestmark = pytest.mark.moderation

ADMIN_ROUTES = {
    ("PUT", "/v1/admin/players/{user_id}/ban"),
    ("DELETE", "/v1/admin/players/{user_id}/ban"),
    ("POST", "/v1/admin/players/{user_id}/reset"),
    ("GET", "/v1/admin/players/{user_id}"),
}


def statements(function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for policy in deployed()[function]["Properties"]["Policies"]:
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def api_events(function: str) -> dict[str, dict[str, Any]]:
    events = RESOURCES[function]["Properties"]["Events"]
    return {name: event["Properties"] for name, event in events.items() if event["Type"] == "Api"}


def test_every_admin_route_is_served_by_the_admin_function_behind_iam() -> None:
    events = api_events("ModerationAdminFunction")
    assert {(event["Method"].upper(), event["Path"]) for event in events.values()} == ADMIN_ROUTES
    for event in events.values():
        assert event["Auth"]["Authorizer"] == "AWS_IAM"
        assert event["RestApiId"] == {"Ref": "LeaderboardApi"}
    others = [
        name
        for name in RESOURCES
        if name != "ModerationAdminFunction" and "Events" in RESOURCES[name].get("Properties", {})
    ]
    for name in others:
        assert not any(event["Path"].startswith("/v1/admin") for event in api_events(name).values()), name


def test_the_admin_role_may_invoke_the_admin_routes_and_nothing_else() -> None:
    role = deployed()["ModerationAdminRole"]["Properties"]
    [policy] = role["Policies"]
    [statement] = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "execute-api:Invoke")
    assert statement["Resource"]["Fn::Sub"].endswith(":${LeaderboardApi}/${Stage}/*/v1/admin/*")
    assert "ManagedPolicyArns" not in role


def test_the_audit_table_is_kept_recoverable_and_encrypted() -> None:
    table = RESOURCES["ModerationAuditTable"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert [key["AttributeName"] for key in properties["KeySchema"]] == ["pk", "sk"]


def test_the_admin_function_appends_to_the_audit_trail_and_deletes_only_timers() -> None:
    granted = statements("ModerationAdminFunction")
    dynamodb = [statement for statement in granted if any(a.startswith("dynamodb:") for a in statement["Action"])]
    actions = {action for statement in dynamodb for action in statement["Action"]}
    assert actions == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:DeleteItem"}
    [delete] = [statement for statement in dynamodb if "dynamodb:DeleteItem" in statement["Action"]]
    assert delete["Action"] == ["dynamodb:DeleteItem"]
    assert delete["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["timed-bans"]}}
    for statement in dynamodb:
        assert statement["Resource"] == {"Fn::GetAtt": ["ModerationAuditTable", "Arn"]}


def test_the_admin_function_writes_only_reexport_requests_to_the_archive() -> None:
    s3 = [
        statement
        for statement in statements("ModerationAdminFunction")
        if any(a.startswith("s3:") for a in statement["Action"])
    ]
    assert [statement["Action"] for statement in s3] == [["s3:PutObject"]]
    assert json.dumps(s3[0]["Resource"]).endswith('/reexports/pending/*"}')


def test_timed_bans_are_ended_by_a_schedule_of_the_admin_function() -> None:
    events = RESOURCES["ModerationAdminFunction"]["Properties"]["Events"]
    [schedule] = [event["Properties"] for event in events.values() if event["Type"] == "ScheduleV2"]
    assert json.loads(schedule["Input"]) == {"expire": "due"}
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    environment = RESOURCES["ModerationAdminFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["MODERATION_AUDIT_TABLE"] == {"Ref": "ModerationAuditTable"}
