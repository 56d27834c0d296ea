"""Ingest's ledger on a real redis-server: what it stores, and values written by the earlier release."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from local_runtime.servers import LocalServers
from shared.adapters.keys import submission_key
from shared.adapters.redis_client import RedisClient, create_redis_client
from shared.adapters.submission_ledger import SubmissionLedger
from shared.application.ingest import Submission, SubmissionState
from shared.domain.errors import LedgerUnavailable
from shared.domain.events import ScoreEvent, event_id_for

AT = 1_560_000_000_000


@pytest.fixture
def client(servers: LocalServers) -> Iterator[RedisClient]:
    redis_client = create_redis_client(servers.redis_url)
    yield redis_client
    redis_client.close()


def fresh_event(points: int = 2) -> ScoreEvent:
    match, user = f"m-{uuid.uuid4().hex[:8]}", "ann"
    return ScoreEvent(event_id_for(match, user), match, user, points, AT)


def test_a_claim_remembers_points_and_time_and_lasts_the_window(client: RedisClient) -> None:
    ledger = SubmissionLedger(client, window_seconds=600)
    first, second = fresh_event(2), fresh_event(5)
    assert ledger.claim([first, second]) == [None, None]
    ledger.confirm([first])
    assert ledger.claim([first, second]) == [
        Submission(SubmissionState.ACCEPTED, 2, AT),
        Submission(SubmissionState.PENDING, 5, AT),
    ]
    assert 0 < int(client.ttl(submission_key(second.event_id))) <= 600


def test_a_claim_remembers_when_the_event_was_received(client: RedisClient) -> None:
    ledger = SubmissionLedger(client, window_seconds=600)
    event = fresh_event()._replace(received_at_ms=AT + 1500)
    ledger.claim([event])
    assert ledger.claim([event]) == [Submission(SubmissionState.PENDING, 2, AT, AT + 1500)]
    ledger.confirm([event])
    assert ledger.claim([event]) == [Submission(SubmissionState.ACCEPTED, 2, AT, AT + 1500)]


def test_a_peek_reads_what_is_remembered_and_claims_nothing(client: RedisClient) -> None:
    ledger = SubmissionLedger(client, window_seconds=600)
    claimed, unseen = fresh_event()._replace(received_at_ms=AT + 1500), fresh_event()
    ledger.claim([claimed])
    assert ledger.peek([claimed, unseen]) == [Submission(SubmissionState.PENDING, 2, AT, AT + 1500), None]
    assert client.exists(submission_key(unseen.event_id)) == 0
    assert ledger.claim([unseen]) == [None]


def test_a_peek_while_redis_is_away_is_ledger_unavailable() -> None:
    with create_redis_client("redis://127.0.0.1:1/0") as unreachable, pytest.raises(LedgerUnavailable):
        SubmissionLedger(unreachable, window_seconds=600).peek([fresh_event()])


def test_a_claim_written_before_received_at_was_remembered_is_read(client: RedisClient) -> None:
    event = fresh_event()
    client.set(submission_key(event.event_id), f"accepted|2|{AT}", ex=60)
    assert SubmissionLedger(client, window_seconds=600).claim([event]) == [Submission(SubmissionState.ACCEPTED, 2, AT)]


@pytest.mark.parametrize(
    ("stored", "state"), [("accepted", SubmissionState.ACCEPTED), ("pending", SubmissionState.PENDING)]
)
def test_bare_states_from_the_earlier_release_are_read(
    client: RedisClient, stored: str, state: SubmissionState
) -> None:
    event = fresh_event()
    client.set(submission_key(event.event_id), stored, ex=60)
    assert SubmissionLedger(client, window_seconds=600).claim([event]) == [Submission(state, None, None)]
