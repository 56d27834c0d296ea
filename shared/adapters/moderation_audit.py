"""The moderation audit trail in DynamoDB: one item per action, written only where none is; timers of timed bans.

Items (docs/MODERATION.md):

    pk "player#<user_id>"  sk "action#<action_id>"        record: the action's Kafka value (record_codec)
    pk "timed-bans"        sk "<until_ms, 13 digits>#<action_id>"  record: the timed ban to end then

An action item is put with `attribute_not_exists(pk)` and never updated or deleted (the function's
IAM policy allows DeleteItem on timer items only). The record is the Kafka record's value, so the
audit trail and the topic describe an action in one format.
"""

from __future__ import annotations

from typing import Any

import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import AuditUnavailable
from shared.domain.moderation import ModerationAction
from shared.domain.record_codec import PoisonRecord, decode_moderation, encode_moderation

PLAYER_PREFIX = "player#"
ACTION_PREFIX = "action#"
TIMERS_PK = "timed-bans"
# Actions read per player at most: a history longer than this is cut to its newest part's page order.
MAX_HISTORY_ITEMS = 1_000
_EPOCH_MS_DIGITS = 13  # up to 9999-12-31: sorts as text in time order


# Each DynamoDB (or S3) call of an admin request: two attempts of at most 0.5 s to connect and 1 s to read.
ADMIN_CALL_CONNECT_SECONDS = 0.5
ADMIN_CALL_READ_SECONDS = 1.0
ADMIN_CALL_ATTEMPTS = 2
ADMIN_CALL_WORST_SECONDS = ADMIN_CALL_ATTEMPTS * (ADMIN_CALL_CONNECT_SECONDS + ADMIN_CALL_READ_SECONDS)
# A write's calls at most: the audit put, the earlier item's read (a retry), the timer, the archive request.
ADMIN_CALLS_PER_WRITE = 4


def admin_client_config() -> Config:
    """Fail fast inside an API request (ADMIN_CALL_WORST_SECONDS per call), for DynamoDB and S3 alike."""
    return Config(
        connect_timeout=ADMIN_CALL_CONNECT_SECONDS,
        read_timeout=ADMIN_CALL_READ_SECONDS,
        retries={"mode": "standard", "total_max_attempts": ADMIN_CALL_ATTEMPTS},
    )


def player_pk(user_id: str) -> str:
    return f"{PLAYER_PREFIX}{user_id}"


def action_sk(action_id: str) -> str:
    return f"{ACTION_PREFIX}{action_id}"


def timer_sk(ban: ModerationAction) -> str:
    return f"{ban.until_ms:0{_EPOCH_MS_DIGITS}d}#{ban.action_id}"


def _record(item: dict[str, Any]) -> ModerationAction:
    try:
        return decode_moderation(orjson.loads(item["record"]["S"]))
    except (KeyError, orjson.JSONDecodeError, PoisonRecord) as problem:
        raise AuditUnavailable(f"unreadable audit item {item.get('pk')}/{item.get('sk')}: {problem}") from None


class DynamoAuditTrail:
    def __init__(self, dynamodb_client: Any, table: str) -> None:
        self._dynamodb = dynamodb_client
        self._table = table

    def append(self, action: ModerationAction) -> ModerationAction | None:
        key = {"pk": {"S": player_pk(action.user_id)}, "sk": {"S": action_sk(action.action_id)}}
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={**key, "record": {"S": encode_moderation(action).decode()}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            return None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise AuditUnavailable(f"audit trail {self._table}: {error}") from error
        except BotoCoreError as error:
            raise AuditUnavailable(f"audit trail {self._table}: {error}") from error
        return self._get(key)

    def _get(self, key: dict[str, Any]) -> ModerationAction:
        try:
            found = self._dynamodb.get_item(TableName=self._table, Key=key, ConsistentRead=True)
        except (ClientError, BotoCoreError) as error:
            raise AuditUnavailable(f"audit trail {self._table}: {error}") from error
        if "Item" not in found:
            raise AuditUnavailable(f"audit item {key['pk']['S']}/{key['sk']['S']} vanished")
        return _record(found["Item"])

    def history(self, user_id: str) -> list[ModerationAction]:
        return [_record(item) for item in self._query(player_pk(user_id), None, MAX_HISTORY_ITEMS)]

    def set_timer(self, ban: ModerationAction) -> None:
        if ban.until_ms is None:
            raise ValueError(f"ban {ban.action_id} has no end")
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": TIMERS_PK},
                    "sk": {"S": timer_sk(ban)},
                    "record": {"S": encode_moderation(ban).decode()},
                },
            )
        except (ClientError, BotoCoreError) as error:
            raise AuditUnavailable(f"audit trail {self._table}: {error}") from error

    def due_timers(self, now_ms: int, limit: int) -> list[ModerationAction]:
        # "$" sorts just after "#": every timer of that very millisecond is included, none later.
        return [_record(item) for item in self._query(TIMERS_PK, f"{now_ms:0{_EPOCH_MS_DIGITS}d}$", limit)]

    def clear_timer(self, ban: ModerationAction) -> None:
        try:
            self._dynamodb.delete_item(TableName=self._table, Key={"pk": {"S": TIMERS_PK}, "sk": {"S": timer_sk(ban)}})
        except (ClientError, BotoCoreError) as error:
            raise AuditUnavailable(f"audit trail {self._table}: {error}") from error

    def _query(self, pk: str, sk_below: str | None, limit: int) -> list[dict[str, Any]]:
        condition = "pk = :pk" + ("" if sk_below is None else " AND sk < :below")
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_below is not None:
            values[":below"] = {"S": sk_below}
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        try:
            while len(items) < limit:
                page = self._dynamodb.query(
                    TableName=self._table,
                    KeyConditionExpression=condition,
                    ExpressionAttributeValues=values,
                    ConsistentRead=True,
                    Limit=limit - len(items),
                    **({"ExclusiveStartKey": start} if start else {}),
                )
                items.extend(page.get("Items", []))
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
        except (ClientError, BotoCoreError) as error:
            raise AuditUnavailable(f"audit trail {self._table}: {error}") from error
        return items
