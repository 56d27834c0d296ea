import pytest

from shared.domain.periods import is_period, period_of, period_start_ms, seconds_into_period


def test_period_is_the_utc_month_of_the_instant() -> None:
    assert period_of(1_793_880_000_000) == "2026-11"  # 2026-11-05T12:00:00Z
    december = period_start_ms("2026-12")
    assert period_of(december) == "2026-12"
    assert period_of(december - 1) == "2026-11"


def test_seconds_into_period_counts_from_the_first_of_the_month() -> None:
    start = period_start_ms("2024-02")
    assert seconds_into_period(start, "2024-02") == 0
    assert seconds_into_period(start + 29 * 86_400_000 - 1, "2024-02") == 29 * 86_400 - 1


@pytest.mark.parametrize("text", ["2026-00", "2026-13", "26-01", "2026-1", "2026-01x", "", "abcd-ef"])
def test_malformed_periods_are_refused(text: str) -> None:
    assert not is_period(text)
    with pytest.raises(ValueError, match="YYYY-MM"):
        period_start_ms(text)
