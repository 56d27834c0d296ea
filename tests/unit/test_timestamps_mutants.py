"""shared/domain/timestamps.py where `make mutation` found it untested: each bound of the time of day
and of the offset on its own, and the exact words of each refusal."""

from __future__ import annotations

import time

import pytest

from shared.domain import timestamps
from shared.domain.timestamps import NotRfc3339, rfc3339_to_epoch_ms


def refusal(text: str) -> str:
    with pytest.raises(NotRfc3339) as refused:
        rfc3339_to_epoch_ms(text)
    return str(refused.value)


def test_each_part_of_the_time_of_day_is_bounded_on_its_own() -> None:
    out_of_range = "has a time of day out of range (hours 00-23, minutes 00-59, seconds 00-60)"
    assert refusal("2026-12-01T24:00:00Z") == out_of_range
    assert refusal("2026-12-01T10:60:00Z") == out_of_range
    assert refusal("2026-12-01T10:00:61Z") == out_of_range
    assert rfc3339_to_epoch_ms("2026-12-01T23:59:59Z") == rfc3339_to_epoch_ms("2026-12-02T00:00:00Z") - 1000


def test_the_offset_goes_up_to_23_59_each_part_bounded_on_its_own() -> None:
    out_of_range = "has a UTC offset out of range (at most ±23:59)"
    assert refusal("2026-12-01T10:00:00+24:00") == out_of_range
    assert refusal("2026-12-01T10:00:00+10:60") == out_of_range
    utc = rfc3339_to_epoch_ms("2026-12-01T10:00:00Z")
    assert rfc3339_to_epoch_ms("2026-12-01T10:00:00+23:00") == utc - 23 * 3_600_000
    assert rfc3339_to_epoch_ms("2026-12-01T10:00:00+00:59") == utc - 59 * 60_000


def test_each_refusal_says_what_is_wrong() -> None:
    assert refusal("yesterday") == (
        "must be an RFC 3339 timestamp such as 2026-12-01T10:00:00Z or 2026-12-01T11:00:00.5+01:00"
    )
    assert refusal("2026-02-30T10:00:00Z") == "is not a calendar date (or is outside years 0001-9999)"


def test_now_is_the_clock_in_whole_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_123_999_999)
    assert timestamps.now_ms() == 1_700_000_000_123
