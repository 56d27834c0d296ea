"""Archived reads nest inside the query function's Timeout: each S3 read is one short attempt, started
only while the function has time for it and for its answer, so a stalled S3 is a 503 in time."""

from __future__ import annotations

import io
from typing import Any

import pytest

from shared.adapters.archive_store import S3_READ_WORST_SECONDS, S3ArchiveStore, s3_read_config
from shared.adapters.settings import ANSWER_MARGIN_SECONDS
from shared.domain.errors import ArchiveUnavailable

pytestmark = pytest.mark.unit


class CountingS3:
    def __init__(self) -> None:
        self.reads: list[str] = []

    def get_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        self.reads.append(Key)
        return {"Body": io.BytesIO(b"{}")}


def store_with(seconds_left: float) -> tuple[S3ArchiveStore, CountingS3]:
    s3 = CountingS3()
    store = S3ArchiveStore(
        s3, "archive", seconds_left=lambda: seconds_left, answer_margin_seconds=ANSWER_MARGIN_SECONDS
    )
    return store, s3


def test_a_read_starts_while_there_is_time_for_it_and_the_answer() -> None:
    store, s3 = store_with(S3_READ_WORST_SECONDS + ANSWER_MARGIN_SECONDS)
    assert store.get("monthly/2026-10/manifest.json") == b"{}"
    assert s3.reads == ["monthly/2026-10/manifest.json"]


def test_a_read_that_could_outlast_the_timeout_is_refused_before_it_starts() -> None:
    store, s3 = store_with(S3_READ_WORST_SECONDS + ANSWER_MARGIN_SECONDS - 0.01)
    with pytest.raises(ArchiveUnavailable, match="too little to read it and answer"):
        store.get("monthly/2026-10/manifest.json")
    assert s3.reads == []


def test_one_short_attempt_per_read() -> None:
    config: Any = s3_read_config()  # botocore's Config sets its options as attributes at run time
    assert config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert config.connect_timeout + config.read_timeout == S3_READ_WORST_SECONDS
