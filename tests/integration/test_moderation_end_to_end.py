"""Moderation on real servers: actions published on the score topic with the Kafka adapter, scores
through the API, applied by the updater (the local MSK trigger, or the handler invoked by hand with a
batch built to be redelivered), and read back through the API and Redis."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest

from local_runtime.msk_trigger import local_cluster_arn
from local_runtime.stack import UPDATER_FUNCTION, RunningStack
from shared.adapters.keys import hidden_scores_key, moderation_state_key
from shared.adapters.redis_client import create_redis_client
from shared.domain.boards import Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.record_codec import encode_moderation, encode_record
from shared.domain.timestamps import now_ms
from tests.support.dead_letter_reads import letters_for
from tests.support.direct_reads import board_points
from tests.support.http_api import Api
from tests.support.moderation import (
    action_now,
    ban_and_unban_under_traffic,
    points_on,
    publish,
    publisher_for,
    standing,
)
from tests.support.past_months import Month
from tests.support.waiting import wait_for

pytestmark = pytest.mark.moderation


def test_a_ban_and_an_unban_under_live_traffic_end_with_every_board_equal_to_the_truth(stack: RunningStack) -> None:
    ban_and_unban_under_traffic(stack)


def test_a_reset_wipes_one_board_and_later_scores_count_again_from_zero(stack: RunningStack, month: Month) -> None:
    api, user = Api(stack.api_url, stack.api_key), f"reset-{uuid.uuid4().hex[:8]}"
    monthly, day = Window.MONTHLY.parse_period(month.period), Window.DAILY.board_at(month.at(60))
    for index in range(3):
        body = {"match_id": f"m{index}", "user_id": user, "points": 5, "occurred_at": month.at(60 + index)}
        assert api.post("/v1/scores", body)[0] == 202
    publish(stack, action_now(user, ModerationKind.RESET, window="monthly", period=month.period))
    assert (
        api.post("/v1/scores", {"match_id": "after", "user_id": user, "points": 2, "occurred_at": month.at(90)})[0]
        == 202
    )
    wait_for(lambda: points_on(api, day, user) == 17 or None, what="every score on the day's board, not reset")
    assert points_on(api, monthly, user) == 2, "the month counts from the reset on"


def kafka_record(topic: str, offset: int, value: bytes, user: str) -> dict[str, Any]:
    return {
        "topic": topic,
        "partition": 0,
        "offset": offset,
        "timestamp": time.time_ns() // 1_000_000,
        "timestampType": "CREATE_TIME",
        "key": base64.b64encode(user.encode()).decode(),
        "value": base64.b64encode(value).decode(),
        "headers": [],
    }


def kafka_batch(cluster: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eventSource": "aws:kafka",
        "eventSourceArn": local_cluster_arn(cluster),
        "records": {f"{records[0]['topic']}-0": records},
    }


def failed_offsets(answer: dict[str, Any]) -> list[int]:
    return [failure["itemIdentifier"]["offset"] for failure in answer["batchItemFailures"]]


def test_a_batch_of_actions_redelivered_after_a_failure_applies_each_action_once(
    stack: RunningStack, month: Month
) -> None:
    updater = stack.new_container(UPDATER_FUNCTION)
    topic, tag = f"moderated-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    cheat, fair = f"cheat-{tag}", f"fair-{tag}"
    monthly = Window.MONTHLY.parse_period(month.period)
    received = month.at(3600)

    def scored(match: str, user: str, points: int, day: int = 0) -> bytes:
        at = month.at(day * 86_400 + 60)
        return encode_record(ScoreEvent(event_id_for(match, user), match, user, points, at, received))

    # The month's second day is first written at offset 5; its board fails there.
    second_day = Window.DAILY.board_at(month.at(86_400))

    ban, unban, ban_again = (
        action_now(cheat, kind) for kind in (ModerationKind.BAN, ModerationKind.UNBAN, ModerationKind.BAN)
    )
    values = [
        (scored("m1", cheat, 50), cheat),
        (scored("m1", fair, 7), fair),
        (encode_moderation(ban), cheat),
        (scored("m2", cheat, 5), cheat),  # hidden
        (encode_moderation(unban), cheat),
        (scored("m3", cheat, 1, day=1), cheat),  # shown
        (encode_moderation(ban_again), cheat),
        (scored("m4", cheat, 4, day=1), cheat),  # hidden
    ]
    records = [kafka_record(topic, offset, value, user) for offset, (value, user) in enumerate(values)]
    client = create_redis_client(stack.redis_url)
    try:
        client.set(hidden_scores_key(second_day), "not a sorted set")  # its call fails before writing
        answer = updater.invoke(kafka_batch("cluster-m", records))
        assert failed_offsets(answer) == [5, 6, 7]
        assert client.hget(moderation_state_key(), cheat) is None, "the ban and unban below the failure settled"
        client.delete(hidden_scores_key(second_day))
        assert updater.invoke(kafka_batch("cluster-m", records[5:])) == {"batchItemFailures": []}
        assert updater.invoke(kafka_batch("cluster-m", records)) == {"batchItemFailures": []}  # all once more
        assert board_points(stack.redis_url, monthly) == {fair: 7}
        assert board_points(stack.redis_url, monthly, hidden=True) == {cheat: 60}
        assert client.hget(moderation_state_key(), cheat) == b"0"
        # A daily board of years ago is beyond a ban's reach (docs/MODERATION.md): what it showed stays.
        assert board_points(stack.redis_url, second_day) == {cheat: 1}
        assert board_points(stack.redis_url, second_day, hidden=True) == {cheat: 4}
    finally:
        client.hdel(moderation_state_key(), cheat)
        client.close()


def test_a_damaged_moderation_record_is_dead_lettered_and_moves_no_one(stack: RunningStack, month: Month) -> None:
    updater = stack.new_container(UPDATER_FUNCTION)
    topic, user = f"poisoned-{uuid.uuid4().hex[:8]}", f"p-{uuid.uuid4().hex[:8]}"
    monthly = Window.MONTHLY.parse_period(month.period)
    damaged = encode_moderation(action_now(user, ModerationKind.BAN)).replace(b'"actor":"admin:test"', b'"actor":7')
    score = encode_record(ScoreEvent(event_id_for("m", user), "m", user, 3, month.at(60)))
    batch = kafka_batch("cluster-d", [kafka_record(topic, 0, score, user), kafka_record(topic, 1, damaged, user)])
    for _ in range(2):
        assert updater.invoke(batch) == {"batchItemFailures": []}
    letters = letters_for(stack, topic)
    assert [letter["offset"] for letter in letters] == [1]
    assert "actor" in letters[0]["reason"]
    assert board_points(stack.redis_url, monthly) == {user: 3}
    assert standing(Api(stack.api_url, stack.api_key), monthly, user)[0] == 200


def test_a_timed_ban_shows_scores_received_from_its_end_and_its_expiry_restores_the_hidden_ones(
    stack: RunningStack, month: Month
) -> None:
    api, user = Api(stack.api_url, stack.api_key), f"timed-{uuid.uuid4().hex[:8]}"
    monthly = Window.MONTHLY.parse_period(month.period)

    def post(match: str, points: int) -> None:
        body = {"match_id": match, "user_id": user, "points": points, "occurred_at": month.at(60)}
        assert api.post("/v1/scores", body)[0] == 202

    post("before", 5)
    ban = action_now(user, ModerationKind.BAN)
    ban = ban._replace(until_ms=ban.received_at_ms + 8_000)
    expiry = ModerationAction(
        action_id_for("expire:" + ban.action_id, user),
        user,
        ModerationKind.UNBAN,
        "timed ban ended",
        "system:timed-ban",
        ban.until_ms or 0,
    )
    publisher = publisher_for(stack)
    try:
        publisher.publish_moderation([ban])
        post("during", 2)  # received well before `until`: hidden
        wait_for(lambda: standing(api, monthly, user)[0] == 404 or None, what="the ban on the month")
        wait_for(lambda: now_ms() > (ban.until_ms or 0) or None, timeout=60, what="the ban's end")
        post("after", 3)  # received after `until`: shown at once, before the expiry is applied
        wait_for(lambda: points_on(api, monthly, user) == 3 or None, what="the score after the end, shown")
        publisher.publish_moderation([expiry, expiry])  # produced twice: applied once
    finally:
        publisher.close()
    wait_for(lambda: points_on(api, monthly, user) == 10 or None, what="the hidden points back")
    assert board_points(stack.redis_url, monthly, hidden=True).get(user) is None
