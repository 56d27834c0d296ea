"""template.yaml as an operator needs it: capacity that a read flood cannot take, logs that are
kept and bounded, alarms that tell someone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.deployed_template import FUNCTIONS, RESOURCES, TEMPLATE, deployed
from tests.support.paths import REPO_ROOT

ALARM_TOPIC = "arn:aws:sns:us-east-1:123456789012:leaderboard-alarms"
RESERVATIONS = {  # function -> its reserved concurrency parameter
    "MatchIngestFunction": "IngestReservedConcurrency",
    "LeaderboardQueryFunction": "QueryReservedConcurrency",
    "ScoreUpdaterFunction": "UpdaterReservedConcurrency",
}
# Lambda's default account limit, and what it must leave unreserved for every other function.
ACCOUNT_CONCURRENCY = 1000
UNRESERVED_MINIMUM = 100


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def alarm_on(resources: dict[str, Any], namespace: str, metric: str, dimension_value: Any) -> dict[str, Any]:
    found = [
        alarm
        for alarm in alarms(resources).values()
        if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        and dimension_value in [d["Value"] for d in alarm["Dimensions"]]
    ]
    assert len(found) == 1, f"one alarm on {namespace} {metric} for {dimension_value}, found {len(found)}"
    return found[0]


def default(parameter: str) -> Any:
    return TEMPLATE["Parameters"][parameter]["Default"]


def test_every_function_has_reserved_concurrency_by_default() -> None:
    resources = deployed()
    for function_id, parameter in RESERVATIONS.items():
        assert resources[function_id]["Properties"]["ReservedConcurrentExecutions"] == str(default(parameter))
        assert int(default(parameter)) > 0


def test_the_reservations_fit_the_default_account_limit() -> None:
    reserved = sum(int(default(parameter)) for parameter in RESERVATIONS.values())
    assert reserved + UNRESERVED_MINIMUM <= ACCOUNT_CONCURRENCY


def test_the_updater_may_run_one_invocation_per_partition() -> None:
    assert int(default("UpdaterReservedConcurrency")) >= int(default("ScoreTopicPartitions"))


def test_zero_means_no_reservation_not_a_disabled_function() -> None:
    resources = deployed(QueryReservedConcurrency="0")
    assert "ReservedConcurrentExecutions" not in resources["LeaderboardQueryFunction"]["Properties"]
    assert resources["MatchIngestFunction"]["Properties"]["ReservedConcurrentExecutions"] == str(
        default("IngestReservedConcurrency")
    )


def test_each_function_logs_to_its_own_group_with_retention() -> None:
    resources = deployed()
    groups = set()
    for function_id in FUNCTIONS:
        reference = resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"]
        group = resources[reference["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup"
        assert group["Properties"]["RetentionInDays"] == str(default("LogRetentionDays"))
        groups.add(group["Properties"]["LogGroupName"])
    assert len(groups) == len(FUNCTIONS)


def test_the_api_writes_an_access_log_without_headers_or_bodies() -> None:
    resources = deployed()
    setting = resources["LeaderboardApi"]["Properties"]["AccessLogSetting"]
    group = resources[setting["DestinationArn"]["Fn::GetAtt"][0]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == str(default("LogRetentionDays"))
    for field in ("$context.requestId", "$context.status", "$context.resourcePath", "$context.integration.latency"):
        assert field in setting["Format"]
    for leak in ("$input", "header", "querystring", "authorizer"):
        assert leak not in setting["Format"].lower()


def test_the_account_logging_role_is_created_only_when_asked() -> None:
    assert "ApiGatewayAccount" not in deployed()
    resources = deployed(CreateApiGatewayLoggingRole="true")
    role = resources[resources["ApiGatewayAccount"]["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]]
    assert role["Properties"]["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    ]
    assert "ApiGatewayAccount" in resources["LeaderboardApi"]["Properties"]["Description"]["Fn::Sub"]


def test_an_alarm_when_the_dead_letter_queue_holds_anything() -> None:
    alarm = alarm_on(
        deployed(), "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}
    )
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Maximum",
        "GreaterThanThreshold",
        0,
    )


def test_an_alarm_when_the_updater_falls_behind_the_topic() -> None:
    alarm = alarm_on(deployed(), "AWS/Lambda", "OffsetLag", {"Ref": "ScoreUpdaterFunction"})
    assert alarm["Threshold"] == str(default("UpdaterOffsetLagAlarmThreshold"))
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("metric", ["PartitionOffsetResets", "RecordsSkippedUnverified"])
def test_an_alarm_when_a_partitions_offsets_restart_or_records_go_unverified(metric: str) -> None:
    """The updater's loud signals of docs/EXACTLY_ONCE.md, named as functions/score_updater/app.py emits them."""
    alarm = alarm_on(deployed(), "Leaderboard", metric, "score-updater")
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    updater_source = (REPO_ROOT / "functions" / "score_updater" / "app.py").read_text()
    assert f'name="{metric}"' in updater_source


def test_an_alarm_on_the_api_5xx_rate() -> None:
    alarm = alarm_on(deployed(Stage="prod"), "AWS/ApiGateway", "5XXError", "leaderboard-prod")
    assert alarm["Statistic"] == "Average", "the average of a 0/1 metric is the rate"
    assert {"Name": "Stage", "Value": "prod"} in alarm["Dimensions"]
    assert alarm["Threshold"] == str(default("ApiErrorRateAlarmThreshold"))


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_an_alarm_when_a_function_is_throttled(function_id: str) -> None:
    alarm = alarm_on(deployed(), "AWS/Lambda", "Throttles", {"Ref": function_id})
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 0)


def test_alarms_notify_the_topic_when_one_is_given() -> None:
    assert all("AlarmActions" not in alarm for alarm in alarms(deployed()).values())
    with_topic = alarms(deployed(AlarmTopicArn=ALARM_TOPIC))
    assert len(with_topic) == 9
    for alarm in with_topic.values():
        assert alarm["AlarmActions"] == [ALARM_TOPIC]
        assert alarm["OKActions"] == [ALARM_TOPIC]


def test_each_function_logs_and_measures_under_its_own_service_name() -> None:
    names = {
        function_id: RESOURCES[function_id]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for function_id in FUNCTIONS
    }
    assert len(set(names.values())) == len(FUNCTIONS)
    assert "POWERTOOLS_SERVICE_NAME" not in TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
