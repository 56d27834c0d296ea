"""A board rebuilt by replay while players are banned, on real servers (redis-server, Tansu, moto).

Scores arrive through ingest or straight on the topic, moderation actions through the Kafka adapter,
and the live updater applies both. The board and its hidden set are then lost and rebuilt by replay;
the rebuilt pair must equal what the live updater had and the truth kept by the producers.
docs/ARCHIVE.md ("Moderation and the replay") argues why the replay reads who is banned now.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from kafka import KafkaProducer

from local_runtime.servers import LocalServers
from local_runtime.stack import RunningStack
from shared.adapters.board_writer import RedisBoardWriter
from shared.adapters.keys import (
    hidden_scores_key,
    moderation_state_key,
    rebuild_progress_key,
    shadow_board_key,
    shadow_hidden_scores_key,
)
from shared.adapters.shadow_board import RedisShadowBoard
from shared.application.apply import PendingScore
from shared.application.moderation_apply import BAN
from shared.application.rebuild import REPLAY_LEAD_MS
from shared.domain.boards import Board, Window
from shared.domain.events import ScoreEvent, event_id_for
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.record_codec import encode_moderation, encode_record, record_key, record_key_for_action
from shared.domain.timestamps import now_ms
from tests.support.http_api import Api
from tests.support.local_stack import PAST_DAYS_CLOSED, redis_client_of, servers_environ, start_stack
from tests.support.moderation import ScoreTraffic, action_now, points_on, publisher_for
from tests.support.past_days import unused_past_board
from tests.support.rebuild import stack_cluster
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.archive, pytest.mark.moderation]


@pytest.fixture(scope="module")
def stack(servers: LocalServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """Its own topic: the first test needs a ban that is the first record of its partition."""
    environ = servers_environ(servers, **PAST_DAYS_CLOSED)
    with start_stack(environ, tmp_path_factory.mktemp("rebuild-moderation-stack")) as running:
        yield running


@pytest.fixture
def store(stack: RunningStack) -> Iterator[redis.Redis]:
    with redis_client_of(stack) as client:
        yield client


def points(store: redis.Redis, key: str, board: Board) -> dict[str, int]:
    scored = cast(list[tuple[str, float]], store.zrevrange(key, 0, -1, withscores=True))
    return {member: board.codec.points_of(score) for member, score in scored}


def shown_and_hidden(store: redis.Redis, board: Board) -> tuple[dict[str, int], dict[str, int]]:
    return points(store, board.key, board), points(store, hidden_scores_key(board), board)


def lose_the_board(store: redis.Redis, board: Board) -> None:
    """The disaster: the board, its hidden set, watermarks and remembered ids are gone."""
    store.delete(*store.keys(f"{board.key}*") or ["-"])


def rebuild_by_replay(stack: RunningStack, board: Board) -> dict[str, Any]:
    event = {"window": board.window.value, "period": board.period, "source": "replay"}
    return dict(stack.functions["BoardRebuildFunction"].invoke(event))


def test_a_ban_from_before_the_replay_start_hides_the_players_replayed_scores(
    stack: RunningStack, store: redis.Redis
) -> None:
    board = unused_past_board(Window.DAILY)
    tag = uuid.uuid4().hex[:6]
    cheat, others = f"cheat-{tag}", [f"p{number}-{tag}" for number in range(3)]
    banned_at = board.start_ms - 2 * REPLAY_LEAD_MS
    ban = ModerationAction(
        action_id_for(uuid.uuid4().hex, cheat), cheat, ModerationKind.BAN, "test", "admin:test", banned_at
    )
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    try:
        # Stamped (received and written) before the replay's start: the replay never reads it.
        sent = producer.send(
            stack.topic, key=record_key_for_action(ban), value=encode_moderation(ban), timestamp_ms=banned_at
        ).get(timeout=30)
        wait_for(lambda: store.hget(moderation_state_key(), cheat) == "0" or None, what="the ban in the state")
        truth: dict[str, int] = {}
        for match in range(3):
            for number, user in enumerate([cheat, *others]):
                occurred = board.start_ms + (match * 10 + number + 1) * 60_000
                event = ScoreEvent(event_id_for(f"m{match}", user), f"m{match}", user, 5 + number, occurred, occurred)
                producer.send(stack.topic, key=record_key(event), value=encode_record(event))
                truth[user] = truth.get(user, 0) + 5 + number
        producer.flush(timeout=30)
    finally:
        producer.close()
    expected = ({user: truth[user] for user in others}, {cheat: truth[cheat]})
    wait_for(lambda: shown_and_hidden(store, board) == expected or None, timeout=60, what="the live pair")

    lose_the_board(store, board)
    # A previous run read up to just past the ban (which found no board to move) and stopped at its
    # deadline: this run resumes there, so the ban lies before everything it replays. (The local broker
    # answers offsets-for-times from a partition's start, so the period's start cannot place it.)
    partition = f"{stack_cluster(stack)}/{sent.topic}-{sent.partition}"
    store.hset(rebuild_progress_key(board), mapping={"origin": "replay", f"at:{partition}": sent.offset + 1})
    outcome = rebuild_by_replay(stack, board)

    assert (outcome["status"], outcome["players"]) == ("swapped", len(others)), outcome
    assert shown_and_hidden(store, board) == expected
    assert store.hget(moderation_state_key(), cheat) == "0", "the replay wrote no ban state"
    assert not store.keys(f"{shadow_board_key(board)}*")


def test_bans_unbans_and_resets_inside_the_replayed_range_end_as_on_the_live_board(
    stack: RunningStack, store: redis.Redis
) -> None:
    api, tag = Api(stack.api_url, stack.api_key), uuid.uuid4().hex[:6]
    board = Window.DAILY.current(now_ms())
    lose_the_board(store, board)  # other modules' stacks may have scored today in this Redis
    lifted, banned, wiped = f"lifted-{tag}", f"banned-{tag}", f"wiped-{tag}"
    players = (lifted, banned, f"p1-{tag}", f"p2-{tag}")
    traffic = ScoreTraffic(api, players, {lifted: 10_000, banned: 5_000, players[2]: 30, players[3]: 20})
    publisher = publisher_for(stack)
    traffic.start()
    try:
        for number in range(3):
            body = {"match_id": f"w{number}", "user_id": wiped, "points": 7, "occurred_at": now_ms()}
            assert api.post("/v1/scores", body)[0] == 202
        traffic.wait_rounds(2)
        publisher.publish_moderation([action_now(lifted, ModerationKind.BAN), action_now(banned, ModerationKind.BAN)])
        publisher.publish_moderation(
            [action_now(wiped, ModerationKind.RESET, window=board.window.value, period=board.period)]
        )
        wait_for(lambda: points_on(api, board, wiped) is None or None, what="the reset applied")
        assert api.post("/v1/scores", {"match_id": "after", "user_id": wiped, "points": 2, "occurred_at": now_ms()})[0]
        traffic.wait_rounds(4)  # scores while banned
        publisher.publish_moderation([action_now(lifted, ModerationKind.UNBAN)])
        traffic.wait_rounds(4)
    finally:
        traffic.stop()
        publisher.close()
    truth = dict(traffic.truth[board])
    truth[wiped] = 2
    hidden_truth = {banned: truth.pop(banned)}
    wait_for(
        lambda: shown_and_hidden(store, board) == (truth, hidden_truth) or None,
        timeout=60,
        what="the live board and hidden set equal to the truth",
    )

    lose_the_board(store, board)
    # The state is the live updater's; the replay leaves it as it finds it. Lifting this ban behind
    # the replay's back stands for a later change the replay must not undo with the ban it replays.
    store.hdel(moderation_state_key(), banned)
    outcome = rebuild_by_replay(stack, board)

    assert outcome["status"] == "swapped", outcome
    assert shown_and_hidden(store, board) == (truth, hidden_truth)
    assert store.hget(moderation_state_key(), banned) is None, "the replay wrote the ban it replayed"
    assert store.hget(moderation_state_key(), lifted) is None
    assert not store.keys(f"{shadow_board_key(board)}*")


def test_the_swap_drops_a_live_hidden_set_the_shadow_lacks_and_a_restore_leaves_it(
    stack: RunningStack, store: redis.Redis
) -> None:
    board = unused_past_board(Window.DAILY)
    shadow = RedisShadowBoard(redis.Redis.from_url(stack.redis_url))
    writer = RedisBoardWriter(shadow.client)
    hidden = hidden_scores_key(board)
    store.zadd(hidden, {"ghost": board.codec.encode(3, 0)})

    assert shadow.lock(board, "run-1", 60_000)
    shadow.save_progress(board, {"origin": "archive:r"})
    shadow.add(board, [("amy", board.codec.encode(7, 0))], {"page": "1"})
    shadow.swap_restored(board, "run-1", now_ms() + 60_000)
    assert points(store, board.key, board) == {"amy": 7}
    assert points(store, hidden, board) == {"ghost": 3}, "an archive holds only shown players"

    scored = PendingScore(0, bytes.fromhex(event_id_for("m", "zoe")), "zoe", 5, 0, -1)
    writer.apply(board, "c/t-0", [scored], into_shadow=True)
    assert shadow.swap_replayed(board, "run-1") is None
    assert points(store, board.key, board) == {"zoe": 5}
    assert store.exists(hidden) == 0, "the replay hid nobody"

    ban = PendingScore(1, bytes.fromhex(action_id_for("a", "zoe")), "zoe", 0, 0, -1, BAN)
    writer.apply(board, "c/t-0", [scored, ban], into_shadow=True)
    assert store.exists(shadow_hidden_scores_key(board)) == 1
    shadow.discard(board)  # the cleanup after a crash or a damaged source
    shadow.unlock(board, "run-1")
    assert not store.keys(f"{shadow_board_key(board)}*")
