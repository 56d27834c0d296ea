"""The WebSocket API's routes: $connect (throttled per source IP), subscribe, $default, $disconnect.

One function serves every route (API Gateway names it in requestContext.routeKey); each reply to
the client goes through the management API, as the notifier's pushes do."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.adapters.live_wiring import live_ports
from shared.adapters.settings import Settings
from shared.application.live import LiveSubscriptions

settings = Settings.from_env()
ports = live_ports(settings)
subscriptions = LiveSubscriptions(ports.registry, ports.transport, ports.memory, ports.queries)

logger = Logger()
tracer = Tracer()


def _answer(status: HTTPStatus, body: str = "") -> dict[str, Any]:
    return {"statusCode": int(status), "body": body}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event["requestContext"]
    connection_id = request["connectionId"]
    route = request["routeKey"]
    if route == "$connect":
        source_ip = request.get("identity", {}).get("sourceIp", "")
        if not subscriptions.connect(connection_id, source_ip):
            logger.info("connection refused: too many from one address", source_ip=source_ip)
            return _answer(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"too many live connections from {source_ip} (at most {settings.live_connections_per_ip})",
            )
        return _answer(HTTPStatus.OK)
    if route == "$disconnect":
        subscriptions.disconnect(connection_id)
        return _answer(HTTPStatus.OK)
    # subscribe, and $default for every other message (unknown action, not JSON, binary)
    subscriptions.subscribe(connection_id, event.get("body"), binary=bool(event.get("isBase64Encoded")))
    return _answer(HTTPStatus.OK)
