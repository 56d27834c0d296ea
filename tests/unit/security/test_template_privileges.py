"""template.yaml: who may write, what is throttled, and least privilege for each function's role."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest

from shared.adapters.keys import applied_events_key, applied_offsets_key, submission_key
from shared.domain.boards import Window
from tests.support.deployed_template import RESOURCES, TEMPLATE, deployed

pytestmark = pytest.mark.security


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


# -- Deployed variants: the template resolved for one set of parameters ------------------------

KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SHARED_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-shared-AbCdEf"
QUERY_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-query-AbCdEf"
FUNCTION_USERS = {  # function -> (its Redis user resource, its secret resource, its own secret parameter)
    "MatchIngestFunction": ("RedisIngestUser", "RedisIngestUserSecret", "IngestRedisSecretArn"),
    "LeaderboardQueryFunction": ("RedisQueryUser", "RedisQueryUserSecret", "QueryRedisSecretArn"),
    "ScoreUpdaterFunction": ("RedisUpdaterUser", "RedisUpdaterUserSecret", "UpdaterRedisSecretArn"),
}
# Deployments with a Redis secret: created Redis, or an existing one, with a customer key.
VARIANTS: tuple[dict[str, str], ...] = (
    {"CreateRedis": "true", "RedisSecretKmsKeyArn": KMS_KEY},
    {"RedisSecretArn": SHARED_SECRET, "QueryRedisSecretArn": QUERY_SECRET, "RedisSecretKmsKeyArn": KMS_KEY},
)
CREDENTIAL_POLICIES = {
    "MatchIngestFunction": "IngestRedisCredentialsPolicy",
    "LeaderboardQueryFunction": "QueryRedisCredentialsPolicy",
    "ScoreUpdaterFunction": "UpdaterRedisCredentialsPolicy",
}


def function_environment(resources: dict[str, Any], function_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = resources[function_id]["Properties"]["Environment"]["Variables"]
    return variables


def acl_rules(access_string: str) -> list[str]:
    return access_string.split()


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
    assert inline_actions("LeaderboardQueryFunction") == {"S3ReadPolicy"}  # the archive of closed periods
    assert inline_actions("ScoreUpdaterFunction") == {
        "SQSSendMessagePolicy",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeClusterDynamicConfiguration",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:ReadData",
        "kafka-cluster:DescribeGroup",
        "kafka-cluster:AlterGroup",
    }
    # Reads the topic and the updater group's committed offsets, never joins or alters the group. On
    # the bucket, objects only: not its lifecycle rule or ACLs, as S3CrudPolicy would allow.
    assert inline_actions("PeriodCloserFunction") == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "kafka-cluster:Connect",
        "kafka-cluster:DescribeTopic",
        "kafka-cluster:ReadData",
        "kafka-cluster:DescribeGroup",
    }


def managed_policy_statements(resources: dict[str, Any], function_id: str) -> list[dict[str, Any]]:
    """Statements of the template's own managed policies a deployed function attaches."""
    statements: list[dict[str, Any]] = []
    for policy in resources[function_id]["Properties"].get("Policies", []):
        target = resources.get(policy.get("Ref", ""), {})
        if target.get("Type") == "AWS::IAM::ManagedPolicy":
            statements += target["Properties"]["PolicyDocument"]["Statement"]
    return statements


def test_beyond_that_a_function_may_only_read_its_redis_credential() -> None:
    for variant in VARIANTS:
        resources = deployed(**variant)
        for function_id in FUNCTION_USERS:
            statements = managed_policy_statements(resources, function_id)
            assert statements, f"{function_id} reads a secret in {variant}"
            for statement in statements:
                allowed = {"secretsmanager:GetSecretValue", "ssm:GetParameter", "kms:Decrypt"}
                assert set(statement["Action"]) <= allowed, function_id


def test_no_statement_allows_every_resource_or_action() -> None:
    for variant in VARIANTS:
        resources = deployed(**variant)
        statements = [
            statement
            for resource in resources.values()
            for policy in resource.get("Properties", {}).get("Policies", [])
            for statement in policy.get("Statement", [])
        ] + [
            statement
            for resource in resources.values()
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


def test_with_created_redis_each_function_has_its_own_user_and_secret() -> None:
    resources = deployed(CreateRedis="true")
    group = resources["RedisUserGroup"]["Properties"]
    assert resources["RedisReplicationGroup"]["Properties"]["UserGroupIds"] == [{"Ref": "RedisUserGroup"}]
    assert "AuthToken" not in resources["RedisReplicationGroup"]["Properties"], "one shared token is what RBAC replaces"
    assert {"Ref": "RedisDefaultUser"} in group["UserIds"]
    for function_id, (user, secret, _) in FUNCTION_USERS.items():
        assert {"Ref": user} in group["UserIds"]
        assert function_environment(resources, function_id)["REDIS_SECRET_ARN"] == {"Ref": secret}
        statements = resources[CREDENTIAL_POLICIES[function_id]]["Properties"]["PolicyDocument"]["Statement"]
        assert [s["Resource"] for s in statements] == [{"Ref": secret}], "its own secret and nothing else"
        password = resources[user]["Properties"]["AuthenticationMode"]["Passwords"][0]
        assert secret in password["Fn::Sub"]
    users = {resources[user]["Properties"]["UserName"] for user, _, _ in FUNCTION_USERS.values()}
    assert len(users) == 3


def test_the_default_user_is_switched_off() -> None:
    resources = deployed(CreateRedis="true")
    default = resources["RedisDefaultUser"]["Properties"]
    assert default["UserName"] == "default"
    assert acl_rules(default["AccessString"])[:2] == ["off", "-@all"]


def test_the_query_user_may_only_read() -> None:
    rules = acl_rules(deployed(CreateRedis="true")["RedisQueryUser"]["Properties"]["AccessString"])
    granted = [rule for rule in rules if rule.startswith("+")]
    assert rules[:1] == ["on"] and "-@all" in rules and "-@dangerous" in rules
    assert granted == ["+@read", "+evalsha_ro", "+eval_ro"], "no write category, no EVAL/EVALSHA that could write"


def test_the_users_key_patterns_cover_the_keys_each_function_uses() -> None:
    resources = deployed(CreateRedis="true")

    def patterns(user: str) -> list[str]:
        return [rule[1:] for rule in acl_rules(resources[user]["Properties"]["AccessString"]) if rule.startswith("~")]

    def allowed(user: str, key: str) -> bool:
        return any(fnmatchcase(key, pattern) for pattern in patterns(user))

    submission = submission_key("e-1")
    assert allowed("RedisIngestUser", submission) and not allowed("RedisQueryUser", submission)
    for board in (window.board_at(1_796_083_200_000) for window in Window):
        watermarks, events = applied_offsets_key(board), applied_events_key(board, "c/score-events-0")
        assert allowed("RedisQueryUser", board.key) and not allowed("RedisIngestUser", board.key)
        assert all(allowed("RedisUpdaterUser", key) for key in (board.key, watermarks, events))


def test_writers_get_no_dangerous_commands() -> None:
    resources = deployed(CreateRedis="true")
    for user in ("RedisIngestUser", "RedisUpdaterUser"):
        rules = acl_rules(resources[user]["Properties"]["AccessString"])
        assert "-@all" in rules and "-@dangerous" in rules and "+@all" not in rules
        assert rules.index("-@dangerous") > rules.index("+@write"), "removed after the write category grants it"


def test_an_existing_redis_takes_a_secret_per_function_or_the_shared_one() -> None:
    resources = deployed(RedisSecretArn=SHARED_SECRET, QueryRedisSecretArn=QUERY_SECRET)
    assert function_environment(resources, "LeaderboardQueryFunction")["REDIS_SECRET_ARN"] == QUERY_SECRET
    assert function_environment(resources, "MatchIngestFunction")["REDIS_SECRET_ARN"] == SHARED_SECRET
    query_policy = resources["QueryRedisCredentialsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Resource"] for s in query_policy] == [QUERY_SECRET]
    assert not any(user in resources for user, _, _ in FUNCTION_USERS.values()), "no Redis users without CreateRedis"


def test_without_a_secret_no_function_may_read_one() -> None:
    resources = deployed()
    assert not set(CREDENTIAL_POLICIES.values()) & set(resources)
    for function_id in FUNCTION_USERS:
        assert function_environment(resources, function_id)["REDIS_SECRET_ARN"] == ""
        assert {"Ref": CREDENTIAL_POLICIES[function_id]} not in resources[function_id]["Properties"]["Policies"]


def test_kms_decrypt_on_the_customer_key_only_through_the_secret_services() -> None:
    for overrides in ({"CreateRedis": "true"}, {"RedisSecretArn": SHARED_SECRET}):
        resources = deployed(RedisSecretKmsKeyArn=KMS_KEY, **overrides)
        for policy in CREDENTIAL_POLICIES.values():
            statements = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
            decrypt = [s for s in statements if s["Action"] == ["kms:Decrypt"]]
            assert len(decrypt) == 1 and decrypt[0]["Resource"] == KMS_KEY
            services = decrypt[0]["Condition"]["StringEquals"]["kms:ViaService"]
            assert services == ["secretsmanager.us-east-1.amazonaws.com", "ssm.us-east-1.amazonaws.com"]
    created = deployed(CreateRedis="true", RedisSecretKmsKeyArn=KMS_KEY)
    for _, secret, _ in FUNCTION_USERS.values():
        assert created[secret]["Properties"]["KmsKeyId"] == KMS_KEY
    without_key = deployed(CreateRedis="true")
    for policy in CREDENTIAL_POLICIES.values():
        actions = [s["Action"] for s in without_key[policy]["Properties"]["PolicyDocument"]["Statement"]]
        assert ["kms:Decrypt"] not in actions
