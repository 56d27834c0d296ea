"""Environment integers: ASCII digits only, and the bounds of the graces and the board retentions."""

from __future__ import annotations

import pytest

from shared.adapters.settings import Settings
from shared.domain.boards import DAY_MS, MAX_GRACE_MS, Window

GRACE_VARIABLES = (
    "LATE_EVENT_GRACE_SECONDS",
    "LATE_EVENT_GRACE_DAILY_SECONDS",
    "LATE_EVENT_GRACE_WEEKLY_SECONDS",
    "LATE_EVENT_GRACE_MONTHLY_SECONDS",
)
RETENTION_VARIABLES = ("BOARD_RETENTION_DAILY_DAYS", "BOARD_RETENTION_WEEKLY_DAYS", "BOARD_RETENTION_MONTHLY_DAYS")


@pytest.mark.parametrize(
    "text",
    [
        "٣_000",  # Arabic-Indic digits with a separator: int() reads 3000
        "\u0663\u0660\u0660\u0660",  # ٣ and three Arabic-Indic zeros
        "\uff13\uff10\uff10\uff10",  # fullwidth digits
        "3_000",
        "+3000",
        "3000.0",
        "0x10",
        "3 000",
        "1" * 40,
    ],
)
def test_an_integer_variable_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="IDEMPOTENCY_WINDOW_SECONDS must be an integer in ASCII digits"):
        Settings.from_env({"IDEMPOTENCY_WINDOW_SECONDS": text})


def test_a_negative_integer_is_refused_by_its_bound() -> None:
    with pytest.raises(ValueError, match="MAX_FUTURE_SKEW_SECONDS must be >= 0, got -5"):
        Settings.from_env({"MAX_FUTURE_SKEW_SECONDS": "-5"})


def test_surrounding_blanks_are_still_ignored() -> None:
    assert Settings.from_env({"IDEMPOTENCY_WINDOW_SECONDS": " 3000\n"}).idempotency_window_seconds == 3000


@pytest.mark.parametrize("text", ["٢", "2_0", "nan", "inf", "1e1", ".5", "2.", "-1"])
def test_a_seconds_variable_takes_ascii_digits_only(text: str) -> None:
    with pytest.raises(ValueError, match="REDIS_SOCKET_TIMEOUT_SECONDS"):
        Settings.from_env({"REDIS_SOCKET_TIMEOUT_SECONDS": text})


def test_a_seconds_variable_takes_a_decimal_fraction() -> None:
    assert Settings.from_env({"REDIS_SOCKET_TIMEOUT_SECONDS": "0.25"}).redis_socket_timeout_seconds == 0.25


@pytest.mark.parametrize("name", GRACE_VARIABLES)
def test_every_grace_is_at_most_twenty_years(name: str) -> None:
    most = MAX_GRACE_MS // 1000
    assert most == 630_720_000
    assert MAX_GRACE_MS in Settings.from_env({name: str(most)}).late_event_grace_ms_by_window.values()
    for too_long in (str(most + 1), "99999999999"):
        with pytest.raises(ValueError, match=f"{name} must be 0..{most}, got {int(too_long)}"):
            Settings.from_env({name: too_long})


def test_retentions_default_to_the_periods_listed_and_keep_months() -> None:
    assert Settings.from_env({}).board_retention_ms_by_window == {
        Window.DAILY: 14 * DAY_MS,
        Window.WEEKLY: 56 * DAY_MS,
        Window.MONTHLY: 0,
    }


def test_a_retention_is_set_in_days_and_reaches_the_schedule() -> None:
    settings = Settings.from_env(
        {
            "BOARD_RETENTION_DAILY_DAYS": "0",
            "BOARD_RETENTION_WEEKLY_DAYS": "3650",
            "BOARD_RETENTION_MONTHLY_DAYS": "400",
        }
    )
    assert settings.board_schedule().retention_ms == {
        Window.DAILY: 0,
        Window.WEEKLY: 3650 * DAY_MS,
        Window.MONTHLY: 400 * DAY_MS,
    }


@pytest.mark.parametrize("name", RETENTION_VARIABLES)
@pytest.mark.parametrize("text", ["3651", "-1", "14 days", "١٤", "1_4", "14.5"])
def test_a_retention_out_of_bounds_fails_at_start_naming_the_variable(name: str, text: str) -> None:
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: text})
