"""template.yaml's live push: the WebSocket API's routes reach the live function, the updater
reports to the queue the notifier reads, and both live functions may push to connections."""

from __future__ import annotations

from typing import Any

from tests.support.deployed_template import deployed

ROUTES = {"$connect", "$disconnect", "subscribe", "$default"}


def resources() -> dict[str, Any]:
    return deployed()


def of_type(found: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in found.items() if r["Type"] == kind}


def test_every_websocket_route_reaches_the_live_function() -> None:
    found = resources()
    api = found["LiveApi"]["Properties"]
    assert (api["ProtocolType"], api["RouteSelectionExpression"]) == ("WEBSOCKET", "$request.body.action")
    routes = of_type(found, "AWS::ApiGatewayV2::Route")
    assert {route["RouteKey"] for route in routes.values()} == ROUTES
    for route in routes.values():
        assert route["ApiId"] == {"Ref": "LiveApi"}
        assert route["Target"] == {"Fn::Sub": "integrations/${LiveIntegration}"}
    connect = next(route for route in routes.values() if route["RouteKey"] == "$connect")
    assert connect["AuthorizationType"] == "NONE"  # public, like reads; throttled per IP by the function
    integration = found["LiveIntegration"]["Properties"]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert "${LiveConnectionFunction.Arn}" in integration["IntegrationUri"]["Fn::Sub"]
    assert set(found["LiveDeployment"]["DependsOn"]) == set(routes)
    permission = found["LiveInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "LiveConnectionFunction"}
    assert permission["Principal"] == "apigateway.amazonaws.com"


def test_the_updater_reports_to_the_queue_the_notifier_reads() -> None:
    found = resources()
    updater = found["ScoreUpdaterFunction"]["Properties"]
    assert updater["Environment"]["Variables"]["CHANGES_QUEUE_URL"] == {"Ref": "LiveChangesQueue"}
    sends = [p["SQSSendMessagePolicy"]["QueueName"] for p in updater["Policies"] if "SQSSendMessagePolicy" in p]
    assert {"Fn::GetAtt": ["LiveChangesQueue", "QueueName"]} in sends
    (event,) = found["LiveNotifierFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["LiveChangesQueue", "Arn"]}
    queue = found["LiveChangesQueue"]["Properties"]
    # Longer than the notifier's Timeout, so a message is not handled twice at once.
    assert queue["VisibilityTimeout"] >= found["LiveNotifierFunction"]["Properties"]["Timeout"]


def test_both_live_functions_may_post_to_connections_of_their_api_only() -> None:
    found = resources()
    for function in ("LiveConnectionFunction", "LiveNotifierFunction"):
        properties = found[function]["Properties"]
        statements = [s for p in properties["Policies"] if isinstance(p, dict) for s in p.get("Statement", [])]
        (manage,) = [s for s in statements if "execute-api:ManageConnections" in s["Action"]]
        assert manage["Resource"]["Fn::Sub"].endswith(":${LiveApi}/${Stage}/POST/@connections/*")
        variables = properties["Environment"]["Variables"]
        assert "${LiveApi}" in variables["LIVE_ENDPOINT_URL"]["Fn::Sub"]
        assert properties["LoggingConfig"]["LogGroup"]["Ref"] in found
