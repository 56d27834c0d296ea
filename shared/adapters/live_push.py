"""Pushing to WebSocket clients through API Gateway's management API (PostToConnection).

The endpoint is the WebSocket API's stage URL in AWS, the local runtime's API URL locally: the
same boto3 client talks to both."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.application.live import PushFailed

GONE_CODES = {"GoneException", "410"}
# botocore's defaults (60 s to connect, 60 s to read, 5 attempts) would let one stalled endpoint
# hold the notifier past its function timeout; a post is answered in milliseconds.
PUSH_CONNECT_TIMEOUT_SECONDS = 2.0
PUSH_READ_TIMEOUT_SECONDS = 3.0
PUSH_ATTEMPTS = 2


class ApiGatewayPush:
    def __init__(self, management_client: Any | None) -> None:
        self._client = management_client  # None: no endpoint configured

    def send(self, connection_id: str, message: bytes) -> bool:
        if self._client is None:
            raise PushFailed("no management endpoint: LIVE_ENDPOINT_URL is not set")
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=message)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in GONE_CODES or status == 410:
                return False
            raise PushFailed(f"post to {connection_id}: {code or status}") from error
        except BotoCoreError as error:
            raise PushFailed(f"post to {connection_id}: {error}") from error
        return True


def api_gateway_push(endpoint_url: str, region: str) -> ApiGatewayPush:
    """The push over the management API at `endpoint_url`, the stage URL ("": every push fails as PushFailed)."""
    if not endpoint_url:
        return ApiGatewayPush(None)
    config = Config(
        connect_timeout=PUSH_CONNECT_TIMEOUT_SECONDS,
        read_timeout=PUSH_READ_TIMEOUT_SECONDS,
        retries={"mode": "standard", "total_max_attempts": PUSH_ATTEMPTS},
    )
    client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url, region_name=region, config=config)
    return ApiGatewayPush(client)
