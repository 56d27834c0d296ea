"""Instants as epoch milliseconds: the clock's, and RFC 3339 timestamps read exactly as the RFC
defines them (section 5.6).

datetime.fromisoformat takes far more than RFC 3339: ISO basic and week forms, ordinal dates, a
space for the `T`, a missing offset. Those are refused here, as are hours like 24:00.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone

# ASCII digits only: \d would also match other scripts' digits.
_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
    r"[Tt](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
LEAP_SECOND = 60


def now_ms() -> int:
    """The clock, in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class NotRfc3339(ValueError):
    """The text is not an RFC 3339 date-time with an offset; the message says what is wrong."""


def rfc3339_to_epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 date-time such as 2026-12-01T10:00:00.250+01:00.

    `T` and `Z` may be lower case; fractions beyond milliseconds are truncated. A leap second
    (:60) counts as the last millisecond of its minute: epoch time has no room for it, and the
    event stays in the minute, day and month it was stamped with.
    """
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise NotRfc3339("must be an RFC 3339 timestamp such as 2026-12-01T10:00:00Z or 2026-12-01T11:00:00.5+01:00")
    parts = {name: int(value) for name, value in found.groupdict().items() if value and name not in ("utc", "sign")}
    if parts["hour"] > 23 or parts["minute"] > 59 or parts["second"] > LEAP_SECOND:
        raise NotRfc3339("has a time of day out of range (hours 00-23, minutes 00-59, seconds 00-60)")
    if found["sign"] and (parts["offset_hour"] > 23 or parts["offset_minute"] > 59):
        raise NotRfc3339("has a UTC offset out of range (at most ±23:59)")
    offset = timedelta(hours=parts.get("offset_hour", 0), minutes=parts.get("offset_minute", 0))
    leap = parts["second"] == LEAP_SECOND
    try:
        moment = datetime(
            parts["year"],
            parts["month"],
            parts["day"],
            parts["hour"],
            parts["minute"],
            59 if leap else parts["second"],
            tzinfo=timezone(-offset if found["sign"] == "-" else offset),
        )
        epoch_ms = (moment - _EPOCH) // _ONE_MS
    except (ValueError, OverflowError):
        raise NotRfc3339("is not a calendar date (or is outside years 0001-9999)") from None
    if leap:
        return epoch_ms + 999
    return epoch_ms + int((found["fraction"] or "0")[:3].ljust(3, "0"))


def epoch_ms_to_rfc3339(epoch_ms: int) -> str:
    """UTC, with `Z`: 2026-12-07T00:00:00Z, or 2026-12-07T00:00:00.250Z when the milliseconds are not 0."""
    moment = _EPOCH + epoch_ms * _ONE_MS
    return moment.isoformat(timespec="milliseconds" if epoch_ms % 1000 else "seconds").replace("+00:00", "Z")
