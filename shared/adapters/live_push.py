"""Pushing to WebSocket clients through API Gateway's management API (PostToConnection).

The endpoint is the WebSocket API's stage URL in AWS, the local runtime's API URL locally: the
same boto3 client talks to both."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.application.live import PushFailed

GONE_CODES = {"GoneException", "410"}


class ApiGatewayPush:
    def __init__(self, management_client: Any) -> None:
        self._client = management_client

    def send(self, connection_id: str, message: bytes) -> bool:
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
