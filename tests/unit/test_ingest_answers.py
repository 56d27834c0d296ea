"""The 202 answers of the ingest handler: which boards an accepted score counts on.

The handler runs on the sample events, its ports swapped for stand-ins (a ledger in memory and a
publisher that records), so an accepted score is answered without Redis or Kafka. Scores carry
no occurred_at or one relative to now, so the answers hold whatever the date.
"""

from __future__ import annotations

import inspect
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from local_runtime.lambda_host import LambdaContext, load_handler
from shared.domain.boards import DAY_MS, Window
from shared.domain.events import event_id_for
from shared.domain.timestamps import now_ms
from tests.support.ingest_ports import MemoryLedger, RecordingPublisher
from tests.support.paths import REPO_ROOT
from tests.support.sample_events import load_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
CLOSED = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "KAFKA_SEND_TIMEOUT_SECONDS": "1",
    "DEAD_LETTER_QUEUE_URL": "",
}
# Three days back: its day closed (2 hours of grace) at least a day ago whatever the time now.
THREE_DAYS_AGO = 3 * DAY_MS


@dataclass
class Ingest:
    handler: Handler
    publisher: RecordingPublisher
    ledger: MemoryLedger
    application: dict[str, Any]  # the handler's own copy of shared.application.ingest (each load has one)

    def post(self, sample: str, body: object) -> tuple[int, dict[str, Any]]:
        event = load_event(sample)
        event["body"] = json.dumps(body)
        response = self.handler(event, LambdaContext("test"))
        return int(response["statusCode"]), json.loads(response["body"])

    def remember_unanswered_first_try(self, match: str, user: str, occurred_at: int, received_at: int) -> None:
        """As if a first try, received at `received_at`, had been claimed and its publish had gone unanswered."""
        submission, state = self.application["Submission"], self.application["SubmissionState"]
        self.ledger.entries[event_id_for(match, user)] = submission(state.PENDING, 1, occurred_at, received_at)


def ingest_with(**environment: str) -> Ingest:
    handler = load_handler(
        REPO_ROOT / "functions" / "match_ingest" / "app.py",
        repo_root=REPO_ROOT,
        environment={**CLOSED, **environment},
    )
    module = sys.modules[handler.__module__]
    publisher, ledger = RecordingPublisher(), MemoryLedger()
    service = module.IngestService(publisher, ledger, module.schedule)
    module.__dict__["ingest"] = service
    # unwrap: under `make mutation` mutmut wraps every method in a trampoline defined in its own module
    return Ingest(handler, publisher, ledger, inspect.unwrap(type(service).submit).__globals__)


@pytest.fixture(scope="module")
def every_window() -> Ingest:
    return ingest_with()


@pytest.fixture(scope="module")
def monthly_only() -> Ingest:
    return ingest_with(LEADERBOARD_WINDOWS="monthly")


@pytest.fixture(scope="module")
def daily_only() -> Ingest:
    return ingest_with(LEADERBOARD_WINDOWS="daily")


def fresh_match() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


def test_a_score_names_the_period_of_every_enabled_window(every_window: Ingest) -> None:
    status, answer = every_window.post("post_score.json", {"match_id": fresh_match(), "user_id": "ann"})
    occurred_at = every_window.publisher.published[-1].occurred_at_ms
    assert status == 202
    assert answer["period"] == Window.MONTHLY.period_of(occurred_at)
    assert answer["periods"] == {window.value: window.period_of(occurred_at) for window in Window}
    assert answer["periods"]["alltime"] == "all"


def test_a_score_whose_day_has_closed_counts_on_the_other_boards(every_window: Ingest) -> None:
    occurred_at = now_ms() - THREE_DAYS_AGO
    status, answer = every_window.post(
        "post_score.json", {"match_id": fresh_match(), "user_id": "ann", "occurred_at": occurred_at}
    )
    assert status == 202
    assert "daily" not in answer["periods"]
    assert answer["periods"]["alltime"] == "all"
    assert answer["period"] == Window.MONTHLY.period_of(occurred_at), "period stays the month of occurred_at"
    assert every_window.publisher.published[-1].received_at_ms is not None


def test_a_resubmission_answers_the_boards_of_the_first_try(every_window: Ingest) -> None:
    match = fresh_match()
    occurred_at = now_ms() - THREE_DAYS_AGO
    _, first = every_window.post("post_score.json", {"match_id": match, "user_id": "bob", "occurred_at": occurred_at})
    status, again = every_window.post("post_score.json", {"match_id": match, "user_id": "bob"})  # stamped now
    assert status == 202
    assert again == first
    assert "daily" not in again["periods"]


def test_with_only_the_monthly_board_no_other_window_is_named(monthly_only: Ingest) -> None:
    status, answer = monthly_only.post("post_score.json", {"match_id": fresh_match(), "user_id": "ann"})
    occurred_at = monthly_only.publisher.published[-1].occurred_at_ms
    assert status == 202
    assert answer["periods"] == {"monthly": answer["period"]} == {"monthly": Window.MONTHLY.period_of(occurred_at)}


def test_with_only_the_monthly_board_a_closed_month_is_refused(monthly_only: Ingest) -> None:
    long_ago = now_ms() - 100 * DAY_MS
    status, answer = monthly_only.post(
        "post_score.json", {"match_id": fresh_match(), "user_id": "ann", "occurred_at": long_ago}
    )
    assert (status, answer["error"]["field"]) == (400, "occurred_at")
    assert f"monthly {Window.MONTHLY.period_of(long_ago)} closed to late events" in answer["error"]["message"]


def test_an_event_before_the_alltime_board_and_long_closed_elsewhere_is_refused(every_window: Ingest) -> None:
    status, answer = every_window.post(
        "post_score.json", {"match_id": fresh_match(), "user_id": "ann", "occurred_at": "2019-06-15T10:00:00Z"}
    )
    assert (status, answer["error"]["field"]) == (400, "occurred_at")
    assert "monthly 2019-06" in answer["error"]["message"]
    assert "alltime board holds instants from 2020-01-01" in answer["error"]["message"]


def test_a_batch_answer_counts_the_events_on_each_window(every_window: Ingest) -> None:
    now_match, late_match = fresh_match(), fresh_match() + "-late"
    scores = [
        {"match_id": now_match, "user_id": "ann"},
        {"match_id": late_match, "user_id": "ann", "occurred_at": now_ms() - THREE_DAYS_AGO},
        {"match_id": now_match, "user_id": "ann"},
    ]
    status, answer = every_window.post("post_score_batch.json", {"scores": scores})
    assert status == 202
    assert (answer["accepted"], answer["duplicates"]) == (3, 1)
    assert set(answer["per_window"]) == {"daily", "weekly", "monthly", "alltime"}
    assert (answer["per_window"]["daily"], answer["per_window"]["alltime"]) == (1, 2)
    assert {answer["per_window"]["weekly"], answer["per_window"]["monthly"]} <= {1, 2}


def test_a_batch_answer_lists_only_the_enabled_windows(monthly_only: Ingest) -> None:
    scores = [{"match_id": fresh_match() + f"-{index}", "user_id": "ann"} for index in range(2)]
    status, answer = monthly_only.post("post_score_batch.json", {"scores": scores})
    assert (status, answer["per_window"]) == (202, {"monthly": 2})


def test_a_retry_received_after_its_day_closed_answers_the_day_of_its_first_try(daily_only: Ingest) -> None:
    match, occurred_at = fresh_match(), now_ms() - THREE_DAYS_AGO
    daily_only.remember_unanswered_first_try(match, "ann", occurred_at, received_at=occurred_at + 60_000)
    status, answer = daily_only.post(
        "post_score.json", {"match_id": match, "user_id": "ann", "occurred_at": occurred_at}
    )
    assert (status, answer.get("periods")) == (202, {"daily": Window.DAILY.period_of(occurred_at)})
    assert daily_only.publisher.published[-1].received_at_ms == occurred_at + 60_000


def test_a_batch_retry_with_a_late_event_whose_first_try_counts_is_accepted_whole(daily_only: Ingest) -> None:
    late_match, fresh = fresh_match(), fresh_match()
    occurred_at, bob_first_try = now_ms() - THREE_DAYS_AGO, now_ms() - 60_000
    daily_only.remember_unanswered_first_try(late_match, "alice", occurred_at, received_at=occurred_at + 60_000)
    daily_only.remember_unanswered_first_try(fresh, "bob", bob_first_try, received_at=bob_first_try)
    scores = [
        {"match_id": late_match, "user_id": "alice", "occurred_at": occurred_at},
        {"match_id": fresh, "user_id": "bob"},
    ]
    status, answer = daily_only.post("post_score_batch.json", {"scores": scores})
    assert (status, answer.get("accepted"), answer.get("per_window")) == (202, 2, {"daily": 2})
    assert [item.occurred_at_ms for item in daily_only.publisher.published[-2:]] == [occurred_at, bob_first_try]


def test_a_late_event_in_a_batch_never_seen_before_is_refused_by_its_index(daily_only: Ingest) -> None:
    fresh = fresh_match()
    scores = [
        {"match_id": fresh, "user_id": "bob"},
        {"match_id": fresh_match(), "user_id": "alice", "occurred_at": now_ms() - THREE_DAYS_AGO},
    ]
    published = len(daily_only.publisher.published)
    status, answer = daily_only.post("post_score_batch.json", {"scores": scores})
    assert (status, answer["error"]["field"]) == (400, "scores.1.occurred_at")
    assert "counts on no open board: daily" in answer["error"]["message"]
    assert len(daily_only.publisher.published) == published
    assert event_id_for(fresh, "bob") not in daily_only.ledger.entries, "nothing claimed"
