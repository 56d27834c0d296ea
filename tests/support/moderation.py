"""Moderation through the real path: actions published with the Kafka adapter, scores posted to the
API by a bounded producer thread that keeps the ground truth, and the ban-under-traffic scenario the
standalone and Cluster tests share."""

from __future__ import annotations

import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from local_runtime.stack import RunningStack
from shared.adapters.kafka_producer import KafkaModerationPublisher
from shared.adapters.settings import Settings
from shared.domain.boards import Board, Window
from shared.domain.moderation import ModerationAction, ModerationKind, action_id_for
from shared.domain.timestamps import now_ms
from tests.support.http_api import Api
from tests.support.waiting import wait_for

WINDOWS = tuple(Window)


def publisher_for(stack: RunningStack) -> KafkaModerationPublisher:
    return KafkaModerationPublisher(Settings.from_env(stack.local_environment))


def publish(stack: RunningStack, *actions: ModerationAction) -> None:
    """Produce `actions` to the stack's topic as the admin function does."""
    publisher = publisher_for(stack)
    try:
        publisher.publish_moderation(list(actions))
    finally:
        publisher.close()


def action_now(
    user: str, kind: ModerationKind, *, window: str | None = None, period: str | None = None, until: int | None = None
) -> ModerationAction:
    return ModerationAction(
        action_id_for(uuid.uuid4().hex, user), user, kind, "test", "admin:test", now_ms(), until, window, period
    )


def standing(api: Api, board: Board, user: str) -> tuple[int, dict[str, object]]:
    query = urllib.parse.urlencode({"period": board.period})
    return api.get(f"/v1/leaderboards/{board.window}/users/{urllib.parse.quote(user, safe='')}?{query}")


def points_on(api: Api, board: Board, user: str) -> int | None:
    status, body = standing(api, board, user)
    assert status in (200, 404), body
    return int(str(body["points"])) if status == 200 else None


@dataclass
class ScoreTraffic:
    """Posts one score per player per round (occurred now) until stopped, at most `max_rounds` rounds
    and `max_seconds`; keeps what the API accepted, per board, as the ground truth."""

    api: Api
    players: tuple[str, ...]
    points: dict[str, int]
    max_rounds: int = 200
    max_seconds: float = 90.0
    rounds: int = 0
    truth: dict[Board, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ScoreTraffic:
        self._thread = threading.Thread(target=self._run, name="score-traffic", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and self.rounds < self.max_rounds and time.monotonic() < deadline:
            at = now_ms()
            scores = [
                {"match_id": f"r{self.rounds}", "user_id": user, "points": self.points[user], "occurred_at": at}
                for user in self.players
            ]
            status, body = self.api.post("/v1/scores/batch", {"scores": scores})
            if status != 202:
                self.errors.append(f"round {self.rounds}: {status} {body}")
                return
            for user in self.players:
                for window in WINDOWS:
                    board = window.board_at(at)
                    self.truth[board][user] = self.truth[board].get(user, 0) + self.points[user]
            self.rounds += 1
            time.sleep(0.05)

    def wait_rounds(self, more: int) -> None:
        target = self.rounds + more
        wait_for(lambda: self.rounds >= target or bool(self.errors) or None, what=f"{more} more rounds of scores")
        assert not self.errors, self.errors

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        assert not self.errors, self.errors


def ban_and_unban_under_traffic(stack: RunningStack, *, rounds_between: int = 5) -> None:
    """Four players post scores continuously; one is banned, then unbanned. While banned they are on
    no board (404 to everyone, in no one's neighbourhood, out of the count) though their scores are
    counted; after the unban every board holds exactly the truth."""
    api, tag = Api(stack.api_url, stack.api_key), uuid.uuid4().hex[:8]
    cheat, *others = players = (f"cheat-{tag}", f"p1-{tag}", f"p2-{tag}", f"p3-{tag}")
    traffic = ScoreTraffic(api, tuple(players), {cheat: 10_000, others[0]: 30, others[1]: 20, others[2]: 10})
    publisher = publisher_for(stack)
    traffic.start()
    try:
        traffic.wait_rounds(2)
        boards = [window.current(now_ms()) for window in WINDOWS]
        wait_for(lambda: all(points_on(api, board, cheat) for board in boards) or None, what="the cheat on every board")
        alltime = Window.ALLTIME.current(now_ms())
        total_before = int(str(standing(api, alltime, others[0])[1]["total"]))

        publisher.publish_moderation([action_now(cheat, ModerationKind.BAN)])
        wait_for(
            lambda: all(standing(api, board, cheat)[0] == 404 for board in boards) or None,
            what="the ban on every board",
        )
        traffic.wait_rounds(rounds_between)  # scores while banned: counted, hidden
        assert all(standing(api, board, cheat)[0] == 404 for board in boards), "still hidden"
        for board in boards:
            for user in others:
                status, body = api.get(f"/v1/leaderboards/{board.window}/users/{user}?period={board.period}&around=3")
                assert status == 200, body
                assert cheat not in {str(entry["user_id"]) for entry in body["around"]}, f"{board.key} around {user}"
            status, top = api.get(f"/v1/leaderboards/{board.window}/top?period={board.period}&limit=100")
            assert status == 200 and cheat not in {str(entry["user_id"]) for entry in top["entries"]}
        assert int(str(standing(api, alltime, others[0])[1]["total"])) == total_before - 1

        publisher.publish_moderation([action_now(cheat, ModerationKind.UNBAN)])
        traffic.wait_rounds(rounds_between)
    finally:
        traffic.stop()
        publisher.close()
    for board, expected in traffic.truth.items():
        for user, points in expected.items():
            wait_for(
                lambda board=board, user=user, points=points: points_on(api, board, user) == points or None,  # type: ignore[misc]
                what=f"{user} to hold {points} on {board.key}",
            )
