"""The samples in events/ stay valid whatever the date: nothing in them expires."""

from __future__ import annotations

import json

import pytest

from shared.adapters.settings import Settings
from shared.domain.boards import DAY_MS
from shared.domain.events import ScoreBatch, ScoreSubmission, to_score_event, to_score_events
from shared.domain.timestamps import now_ms
from tests.support.paths import EVENTS_DIR
from tests.support.sample_events import load_event

LIMITS = Settings.from_env({}).score_limits()
API_SAMPLES = sorted(path.name for path in EVENTS_DIR.glob("*.json") if "httpMethod" in path.read_text())
# Today, past the longest month plus the late-event grace, a year on, and decades on.
DAYS_AHEAD = [0, 45, 400, 30 * 365]


@pytest.mark.parametrize("days_ahead", DAYS_AHEAD)
def test_the_single_score_sample_is_accepted_at_any_date(days_ahead: int) -> None:
    body = json.loads(load_event("post_score.json")["body"])
    received_at_ms = now_ms() + days_ahead * DAY_MS
    event = to_score_event(ScoreSubmission.model_validate(body), LIMITS, received_at_ms=received_at_ms)
    assert event.occurred_at_ms == received_at_ms


@pytest.mark.parametrize("days_ahead", DAYS_AHEAD)
def test_the_batch_sample_is_accepted_at_any_date(days_ahead: int) -> None:
    body = json.loads(load_event("post_score_batch.json")["body"])
    received_at_ms = now_ms() + days_ahead * DAY_MS
    events = to_score_events(ScoreBatch.model_validate(body), LIMITS, received_at_ms=received_at_ms)
    assert {event.occurred_at_ms for event in events} == {received_at_ms}


@pytest.mark.parametrize("name", API_SAMPLES)
def test_api_samples_name_no_month(name: str) -> None:
    event = load_event(name)
    assert "period" not in (event["queryStringParameters"] or {}), "a read of a fixed month goes stale"
    assert "occurred_at" not in (event["body"] or ""), "a fixed occurred_at is refused once its month closes"


@pytest.mark.parametrize("name", API_SAMPLES)
def test_loading_stamps_the_request_time(name: str) -> None:
    before = now_ms()
    stamped = load_event(name)["requestContext"]["requestTimeEpoch"]
    assert before <= stamped <= now_ms()
