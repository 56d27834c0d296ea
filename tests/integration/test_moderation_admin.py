"""The admin routes through the local API Gateway: what they record in the audit trail (DynamoDB on
moto), what they produce to Kafka, how they refuse bad input and the wrong key, a timed ban ending
by itself, and the audit trail outliving the function and Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis

from local_runtime.lambda_host import environment_overlay, load_handler
from local_runtime.servers import LocalServers
from local_runtime.stack import DEFAULT_ARCHIVE_BUCKET, RunningStack, create_audit_table, moto_client
from shared.adapters.archive_store import S3ArchiveStore
from shared.adapters.moderation_audit import DynamoAuditTrail
from shared.application.archive import PeriodCloser
from shared.application.queries import Entry
from shared.domain.archive import board_prefix, manifest_key
from shared.domain.boards import BoardSchedule, Window
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.record_codec import decode_moderation, is_moderation
from tests.support.archive_fakes import FixedProgress, ListedBoards
from tests.support.direct_reads import topic_values
from tests.support.handler_calls import Handler, call
from tests.support.http_api import Api
from tests.support.local_stack import GRACE_VARIABLES, own_servers_environ, servers_environ, start_stack
from tests.support.past_days import unused_past_board
from tests.support.paths import REPO_ROOT
from tests.support.sample_events import load_event
from tests.support.waiting import wait_for

pytestmark = pytest.mark.moderation

ADMIN_ROUTES = [
    ("PUT", "/v1/admin/players/p1/ban", {"reason": "cheating"}),
    ("DELETE", "/v1/admin/players/p1/ban", {"reason": "appeal"}),
    ("POST", "/v1/admin/players/p1/reset", {"window": "alltime", "period": "all", "reason": "cheated season"}),
    ("GET", "/v1/admin/players/p1", None),
]


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # The default graces: past days have closed, as deployed.
    environ = servers_environ(servers, **dict.fromkeys(GRACE_VARIABLES, ""))
    with start_stack(environ, tmp_path_factory.mktemp("moderation-stack")) as running:
        yield running


@pytest.fixture
def admin(stack: RunningStack) -> Api:
    return Api(stack.api_url, stack.admin_api_key)


def stack_s3(stack: RunningStack) -> Any:
    return moto_client("s3", stack.aws_endpoint_url)


def player() -> str:
    return f"player-{uuid.uuid4().hex[:10]}"


def moderation_records(stack: RunningStack, user_id: str) -> list[dict[str, Any]]:
    return [
        value
        for value in topic_values(stack.kafka_bootstrap, stack.topic, quiet_seconds=0.5)
        if is_moderation(value) and value["user_id"] == user_id
    ]


def history(admin: Api, user_id: str) -> list[dict[str, Any]]:
    status, body = admin.call("GET", f"/v1/admin/players/{quote(user_id, safe='')}")
    assert status == 200, body
    entries: list[dict[str, Any]] = body["history"]
    return entries


def test_ban_unban_and_reset_are_recorded_then_produced_on_the_players_key(stack: RunningStack, admin: Api) -> None:
    user = player()
    status, banned = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "aimbot"})
    assert status == 202, banned
    assert (banned["action"], banned["user_id"], banned["retried"]) == ("ban", user, False)
    status, reset = admin.call(
        "POST", f"/v1/admin/players/{user}/reset", {"window": "daily", "period": "2026-12-01", "reason": "wipe"}
    )
    assert status == 202, reset
    status, unbanned = admin.call("DELETE", f"/v1/admin/players/{user}/ban", {"reason": "appeal upheld"})
    assert status == 202, unbanned

    entries = history(admin, user)
    assert [(entry["action_id"], entry["action"], entry["reason"]) for entry in entries] == [
        (banned["action_id"], "ban", "aimbot"),
        (reset["action_id"], "reset", "wipe"),
        (unbanned["action_id"], "unban", "appeal upheld"),
    ]
    assert {entry["actor"] for entry in entries} == {"local:ModerationAdminFunction-caller"}
    assert (entries[1]["window"], entries[1]["period"]) == ("daily", "2026-12-01")

    actions = [decode_moderation(value) for value in moderation_records(stack, user)]
    assert [(action.action_id, action.kind) for action in actions] == [
        (banned["action_id"], ModerationKind.BAN),
        (reset["action_id"], ModerationKind.RESET),
        (unbanned["action_id"], ModerationKind.UNBAN),
    ]
    status, body = admin.call("GET", f"/v1/admin/players/{user}")
    assert (body["banned"], body["banned_until"], body["hidden"]) == (False, None, [])


def test_a_retry_with_the_same_idempotency_key_is_the_same_action(stack: RunningStack, admin: Api) -> None:
    user = player()
    key = {"Idempotency-Key": f"op-{uuid.uuid4().hex}"}
    first_status, first = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "bot"}, headers=key)
    again_status, again = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "bot"}, headers=key)
    assert (first_status, again_status) == (202, 202)
    assert again["action_id"] == first["action_id"]
    assert again["received_at"] == first["received_at"]
    assert (first["retried"], again["retried"]) == (False, True)
    assert len(history(admin, user)) == 1
    # Produced twice, identical: the updater applies an action id once.
    records = moderation_records(stack, user)
    assert len(records) == 2 and records[0] == records[1]

    status, conflict = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "other"}, headers=key)
    assert status == 409, conflict
    assert conflict["error"]["code"] == "idempotency_key_reused"
    assert conflict["error"]["action_id"] == first["action_id"]
    assert len(history(admin, user)) == 1


def test_without_a_key_each_request_is_a_new_action(admin: Api) -> None:
    user = player()
    _, first = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "bot"})
    _, second = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "bot"})
    assert first["action_id"] != second["action_id"]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "field"),
    [
        ("PUT", "/v1/admin/players/{user}/ban", {}, {}, "reason"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "   "}, {}, "reason"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "x" * 501}, {}, "reason"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "bad\u202etext"}, {}, "reason"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": 7}, {}, "reason"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "r", "until": 1}, {}, "until"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "r", "until": "next week"}, {}, "until"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "r", "until": True}, {}, "until"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "r", "extra": 1}, {}, "extra"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "r"}, {"Idempotency-Key": "has space"}, "Idempotency-Key"),
        ("PUT", "/v1/admin/players/{user}/ban", {"reason": "r"}, {"Idempotency-Key": "k" * 129}, "Idempotency-Key"),
        ("DELETE", "/v1/admin/players/{user}/ban", {}, {}, "reason"),
        ("POST", "/v1/admin/players/{user}/reset", {"window": "daily", "reason": "r"}, {}, "period"),
        (
            "POST",
            "/v1/admin/players/{user}/reset",
            {"window": "daily", "period": "2026-02-30", "reason": "r"},
            {},
            "period",
        ),
        (
            "POST",
            "/v1/admin/players/{user}/reset",
            {"window": "alltime", "period": "2026", "reason": "r"},
            {},
            "period",
        ),
        ("PUT", "/v1/admin/players/{long}/ban", {"reason": "r"}, {}, "user_id"),
        ("PUT", "/v1/admin/players/%FF/ban", {"reason": "r"}, {}, "user_id"),
        ("PUT", "/v1/admin/players/%E2%80%8B/ban", {"reason": "r"}, {}, "user_id"),
        ("GET", "/v1/admin/players/{long}", None, {}, "user_id"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_recorded(
    stack: RunningStack, admin: Api, method: str, path: str, body: Any, headers: dict[str, str], field: str
) -> None:
    user = player()
    status, answer = admin.call(method, path.format(user=user, long="u" * 129), body, headers=headers)
    assert status == 400, answer
    assert answer["error"]["field"] == field, answer
    assert field in answer["error"]["message"]
    assert history(admin, user) == []
    assert moderation_records(stack, user) == []


def test_a_reset_of_a_window_the_deployment_does_not_enable_is_404(admin: Api) -> None:
    status, answer = admin.call(
        "POST", f"/v1/admin/players/{player()}/reset", {"window": "hourly", "period": "x", "reason": "r"}
    )
    assert status == 404
    assert answer["error"]["code"] == "unknown_window"


def test_bodies_that_are_not_utf8_json_objects_are_refused(admin: Api) -> None:
    path = f"/v1/admin/players/{player()}/ban"
    assert admin.call("PUT", path, raw=b'{"reason": "\xff"}')[0] == 400
    assert admin.call("PUT", path, raw=b'["reason"]')[0] == 400
    assert admin.call("PUT", path, raw=b'{"reason": "a", "reason": "b"}')[1]["error"]["code"] == "duplicate_key"
    assert admin.call("PUT", path, raw=b"{" * 100_000)[0] == 400
    status, answer = admin.call("PUT", path, raw=b" " * (1024 * 1024 + 1))
    assert status == 413, answer


def test_a_user_id_is_read_percent_decoded_and_in_nfc(admin: Api) -> None:
    decomposed = "e\u0301-" + uuid.uuid4().hex[:8]  # é as e + combining accent
    status, answer = admin.call("PUT", f"/v1/admin/players/{quote(decomposed)}/ban", {"reason": "r"})
    assert status == 202, answer
    composed = "\u00e9" + decomposed[2:]
    assert answer["user_id"] == composed
    assert len(history(admin, composed)) == 1


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.security
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
def test_the_ingest_key_and_no_key_are_refused_on_admin_routes(
    stack: RunningStack, admin: Api, method: str, path: str, body: Any
) -> None:
    ingest = Api(stack.api_url, stack.api_key)
    status, answer = ingest.call(method, path, body)
    assert (status, answer["error"]["code"]) == (403, "forbidden")
    status, answer = admin.call(method, path, body, key=None)
    assert (status, answer["error"]["code"]) == (401, "unauthorized")
    assert history(admin, "p1") == []  # nothing got through


@pytest.mark.security
def test_the_admin_key_cannot_post_scores(stack: RunningStack, admin: Api) -> None:
    user = player()
    score = {"match_id": f"m-{uuid.uuid4().hex}", "user_id": user, "points": 5}
    assert admin.call("POST", "/v1/scores", score)[0] == 403
    assert admin.call("POST", "/v1/scores/batch", {"scores": [score]})[0] == 403
    assert all(
        value.get("user_id") != user for value in topic_values(stack.kafka_bootstrap, stack.topic, quiet_seconds=0.5)
    )


# --- timed bans ----------------------------------------------------------------------------------


def test_a_timed_ban_lifts_itself_with_the_agreed_unban(stack: RunningStack, admin: Api) -> None:
    user = player()
    until_ms = time.time_ns() // 1_000_000 + 1_500
    status, ban = admin.call("PUT", f"/v1/admin/players/{user}/ban", {"reason": "cooldown", "until": until_ms})
    assert status == 202, ban
    _, during = admin.call("GET", f"/v1/admin/players/{user}")
    expected_unban = action_id_for("expire:" + ban["action_id"], user)

    def lifted() -> list[dict[str, Any]] | None:
        entries = history(admin, user)
        return entries if len(entries) == 2 else None

    entries = wait_for(lifted, timeout=60, what="the timed ban's unban in the audit trail")
    assert entries[1]["action_id"] == expected_unban
    assert (entries[1]["action"], entries[1]["actor"]) == ("unban", "system:timed-ban")
    assert [decode_moderation(value).action_id for value in moderation_records(stack, user)] == [
        ban["action_id"],
        expected_unban,
    ]
    unban = decode_moderation(moderation_records(stack, user)[1])
    assert unban.received_at_ms == until_ms  # at `until`, not when the schedule ran
    _, after = admin.call("GET", f"/v1/admin/players/{user}")
    assert after["banned"] is False
    if during["banned"]:  # read before the end, unless the machine stalled 1.5 s
        assert during["ban_action_id"] == ban["action_id"]


# --- durability ----------------------------------------------------------------------------------


def test_the_audit_trail_outlives_the_admin_function_and_redis(servers: LocalServers, tmp_path: Path) -> None:
    # Each stack starts a Redis of its own (no REDIS_URL) and loads the function afresh; the audit trail
    # is in DynamoDB (moto here), shared by both.
    environ = own_servers_environ(
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap, AWS_ENDPOINT_URL=servers.aws_endpoint_url
    )
    user = player()
    with start_stack(environ, tmp_path / "first", expire_timed_bans_every_seconds=None) as first:
        _, ban = Api(first.api_url, first.admin_api_key).call(
            "PUT", f"/v1/admin/players/{user}/ban", {"reason": "before the restart"}
        )
        first_redis = first.redis_url
    with start_stack(environ, tmp_path / "second", expire_timed_bans_every_seconds=None) as second:
        assert second.redis_url != first_redis
        admin = Api(second.api_url, second.admin_api_key)
        status, body = admin.call("GET", f"/v1/admin/players/{user}")
    assert status == 200, body
    assert body["banned"] is True
    assert [(entry["action_id"], entry["reason"]) for entry in body["history"]] == [
        (ban["action_id"], "before the restart")
    ]


# --- archives ------------------------------------------------------------------------------------


@pytest.mark.archive
def test_a_ban_re_exports_a_closed_boards_archive_as_a_new_revision(stack: RunningStack, admin: Api) -> None:
    board = unused_past_board()
    cheater, honest = player(), player()
    store = S3ArchiveStore(stack_s3(stack), DEFAULT_ARCHIVE_BUCKET)
    base = PeriodCloser(
        export=ListedBoards({board: [Entry(cheater, 90), Entry(honest, 50), Entry("third-" + honest, 50)]}),
        store=store,
        progress=FixedProgress(),
        schedule=BoardSchedule((Window.DAILY,)),
        clock=lambda: time.time_ns() // 1_000_000,
        new_run_id=lambda: uuid.uuid4().hex,
    ).close(board)
    assert base.total == 3
    base_objects = {key: store.get(key) for key in store.keys(board_prefix(board))}

    status, ban = admin.call("PUT", f"/v1/admin/players/{cheater}/ban", {"reason": "archived cheat"})
    assert status == 202, ban
    answer = stack.functions["PeriodCloserFunction"].invoke({"close": "due"})
    assert {"window": "daily", "period": board.period, "user_id": cheater, "revision": 1, "total": 2} in answer[
        "revisions"
    ]

    status, top = Api(stack.api_url, stack.api_key).call(
        "GET", f"/v1/leaderboards/daily/top?period={board.period}&ties=shared"
    )
    assert status == 200, top
    assert [(entry["user_id"], entry["rank"]) for entry in top["entries"]] == [(honest, 1), ("third-" + honest, 1)]
    status, _ = Api(stack.api_url, stack.api_key).call(
        "GET", f"/v1/leaderboards/daily/users/{cheater}?period={board.period}"
    )
    assert status == 404
    # The first archive is as it was: the revision is objects of its own.
    assert {key: store.get(key) for key in base_objects} == base_objects
    assert store.get(manifest_key(board)) is not None

    # A restore from the archive takes the newest revision, as readers do (docs/ARCHIVE.md).
    restored = stack.functions["BoardRebuildFunction"].invoke(
        {"window": "daily", "period": board.period, "source": "archive"}
    )
    assert (restored["status"], restored["players"]) == ("swapped", 2), restored
    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    try:
        assert set(client.zrange(board.key, 0, -1)) == {honest, "third-" + honest}
    finally:
        client.close()


# --- failures ------------------------------------------------------------------------------------


def admin_handler(stack: RunningStack, **overrides: str) -> Handler:
    """The admin function loaded once more, on the stack's servers except where `overrides` point."""
    environment = {**stack.local_environment, **overrides}
    with environment_overlay(environment):
        return load_handler(REPO_ROOT / "functions" / "moderation_admin" / "app.py", repo_root=REPO_ROOT)


def ban_event(user_id: str, key: str) -> dict[str, Any]:
    event = load_event("ban_player.json")
    event["path"] = f"/v1/admin/players/{user_id}/ban"
    event["pathParameters"] = {"user_id": user_id}
    event["headers"]["Idempotency-Key"] = key
    event["multiValueHeaders"]["Idempotency-Key"] = [key]
    return event


def test_a_ban_kafka_did_not_take_is_recorded_and_a_retry_with_its_key_applies_it(
    stack: RunningStack, admin: Api
) -> None:
    user, key = player(), f"k-{uuid.uuid4().hex}"
    status, refused = call(admin_handler(stack, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"), ban_event(user, key))
    assert (status, refused["error"]["code"]) == (503, "kafka_unavailable")
    assert "same Idempotency-Key" in refused["error"]["message"]
    [recorded] = history(admin, user)
    assert moderation_records(stack, user) == []

    status, retried = call(admin_handler(stack), ban_event(user, key))
    assert status == 202, retried
    assert (retried["action_id"], retried["retried"]) == (recorded["action_id"], True)
    assert [value["action_id"] for value in moderation_records(stack, user)] == [recorded["action_id"]]
    assert recorded["actor"] == load_event("ban_player.json")["requestContext"]["identity"]["userArn"]


def test_with_the_audit_trail_down_a_ban_is_refused_and_nothing_is_produced(stack: RunningStack) -> None:
    user = player()
    handler = admin_handler(stack, AWS_ENDPOINT_URL="http://127.0.0.1:1")
    status, refused = call(handler, ban_event(user, f"k-{uuid.uuid4().hex}"))
    assert (status, refused["error"]["code"]) == (503, "audit_unavailable")
    assert moderation_records(stack, user) == []


# --- the audit trail's store ---------------------------------------------------------------------


def test_the_audit_store_keeps_the_first_record_and_finds_timers_due_to_the_millisecond(
    servers: LocalServers,
) -> None:
    table = f"audit-{uuid.uuid4().hex[:8]}"
    create_audit_table(servers.aws_endpoint_url, table, {})
    dynamodb = moto_client("dynamodb", servers.aws_endpoint_url)
    audit = DynamoAuditTrail(dynamodb, table)
    at = 1_700_000_000_000
    first = ModerationAction(action_id_for("a", "u"), "u", ModerationKind.BAN, "first", "op", at, at + 10)
    assert audit.append(first) is None
    assert audit.append(first._replace(reason="second", received_at_ms=at + 5)) == first
    assert audit.history("u") == [first]
    assert audit.history("someone else") == []

    later = ModerationAction(action_id_for("b", "u"), "u", ModerationKind.BAN, "later", "op", at, at + 11)
    audit.set_timer(first)
    audit.set_timer(later)
    assert audit.due_timers(at + 9, 10) == []
    assert audit.due_timers(at + 10, 10) == [first]
    assert audit.due_timers(at + 11, 10) == [first, later]
    assert audit.due_timers(at + 11, 1) == [first]
    audit.clear_timer(first)
    assert audit.due_timers(at + 11, 10) == [later]
    assert audit.history("u") == [first]  # clearing a timer leaves the action's record
