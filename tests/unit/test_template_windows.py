"""template.yaml's windows and late-event graces: what each function reads, and what the parameters let through."""

from __future__ import annotations

import itertools
import re

import pytest

from local_runtime.template import load_template
from shared.adapters.settings import Settings
from shared.domain.boards import DAY_MS, MAX_GRACE_MS, MAX_RETENTION_MS, Window, parse_windows
from tests.support.deployed_template import FUNCTIONS, TEMPLATE
from tests.support.paths import REPO_ROOT

PARAMETERS = TEMPLATE["Parameters"]
WINDOWS_PATTERN = re.compile(PARAMETERS["LeaderboardWindows"]["AllowedPattern"])
GRACE_PATTERN = re.compile(PARAMETERS["LateEventGraceDailySeconds"]["AllowedPattern"])
GRACE_PARAMETERS = ("LateEventGraceDailySeconds", "LateEventGraceWeeklySeconds", "LateEventGraceMonthlySeconds")


def function_settings(logical_id: str, **parameters: str) -> Settings:
    """The settings a function deployed with these parameters reads."""
    return Settings.from_env(load_template(REPO_ROOT / "template.yaml", parameters).function(logical_id).environment)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_by_default_every_function_keeps_all_four_windows_with_their_documented_graces(logical_id: str) -> None:
    settings = function_settings(logical_id)
    assert settings.windows == tuple(Window)
    assert settings.late_event_grace_ms_by_window == {
        Window.DAILY: 2 * 3_600_000,
        Window.WEEKLY: DAY_MS,
        Window.MONTHLY: 3 * DAY_MS,
    }
    assert settings.max_points_per_event == 10_000


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_the_window_and_grace_parameters_reach_every_function(logical_id: str) -> None:
    settings = function_settings(
        logical_id,
        LeaderboardWindows="monthly,alltime",
        LateEventGraceSeconds="600",
        LateEventGraceDailySeconds="",
        LateEventGraceWeeklySeconds="60",
    )
    assert settings.windows == (Window.MONTHLY, Window.ALLTIME)
    assert settings.late_event_grace_ms_by_window == {
        Window.DAILY: 600_000,  # empty: LateEventGraceSeconds
        Window.WEEKLY: 60_000,
        Window.MONTHLY: 600_000,
    }


def test_the_largest_points_per_event_the_template_allows_fits_the_alltime_board() -> None:
    largest = PARAMETERS["MaxPointsPerEvent"]["MaxValue"]
    assert largest == Window.ALLTIME.codec.max_points
    settings = function_settings("MatchIngestFunction", MaxPointsPerEvent=str(largest))
    assert settings.max_points_per_event == largest


def every_window_list() -> list[str]:
    names = [window.value for window in Window]
    return [",".join(chosen) for size in range(1, 5) for chosen in itertools.permutations(names, size)]


@pytest.mark.parametrize("text", every_window_list())
def test_the_windows_parameter_allows_each_list_of_distinct_windows(text: str) -> None:
    assert WINDOWS_PATTERN.fullmatch(text)
    assert [window.value for window in parse_windows(text)] == [w for w in Window if w in text.split(",")]


@pytest.mark.parametrize(
    "text",
    ["", "daily,daily", "alltime,daily,alltime", "Daily", "hourly", "daily,", ",daily", "all"],
)
def test_the_windows_parameter_refuses_what_the_functions_would_refuse_at_cold_start(text: str) -> None:
    assert not WINDOWS_PATTERN.fullmatch(text)
    with pytest.raises(ValueError, match="LEADERBOARD_WINDOWS"):
        Settings.from_env({"LEADERBOARD_WINDOWS": text or ","})


@pytest.mark.parametrize("parameter", GRACE_PARAMETERS)
def test_the_grace_parameters_take_whole_seconds_up_to_the_longest_grace_or_nothing(parameter: str) -> None:
    pattern = re.compile(PARAMETERS[parameter]["AllowedPattern"])
    most = MAX_GRACE_MS // 1000
    allowed = ("", "0", "7200", "99999999", str(most - 1), str(most), "599999999", "630699999", "630719999")
    assert all(pattern.fullmatch(text) for text in allowed)
    too_long = (str(most + 1), "630720001", "630800000", "631000000", "700000000", "999999999", "99999999999")
    assert not any(pattern.fullmatch(text) for text in ("-1", "2h", "1.5", " 60", "٣", "1_000", *too_long))


def test_every_grace_bound_is_the_one_the_functions_check() -> None:
    most = MAX_GRACE_MS // 1000
    assert PARAMETERS["LateEventGraceSeconds"]["MaxValue"] == most
    longest = function_settings(
        "ScoreUpdaterFunction",
        LateEventGraceSeconds=str(most),
        LateEventGraceDailySeconds=str(most),
        LateEventGraceWeeklySeconds="",
    )
    assert set(longest.late_event_grace_ms_by_window.values()) == {MAX_GRACE_MS}
    with pytest.raises(ValueError, match=r"LATE_EVENT_GRACE_SECONDS must be 0\.\.630720000"):
        Settings.from_env({"LATE_EVENT_GRACE_SECONDS": str(most + 1)})


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_the_retention_parameters_reach_every_function_with_the_documented_defaults(logical_id: str) -> None:
    assert function_settings(logical_id).board_retention_ms_by_window == {
        Window.DAILY: 14 * DAY_MS,
        Window.WEEKLY: 56 * DAY_MS,
        Window.MONTHLY: 0,
    }
    changed = function_settings(logical_id, BoardRetentionDailyDays="0", BoardRetentionMonthlyDays="400")
    assert changed.board_retention_ms_by_window == {
        Window.DAILY: 0,
        Window.WEEKLY: 56 * DAY_MS,
        Window.MONTHLY: 400 * DAY_MS,
    }


def test_the_retention_parameters_bound_what_the_functions_accept() -> None:
    for window in ("Daily", "Weekly", "Monthly"):
        parameter = PARAMETERS[f"BoardRetention{window}Days"]
        assert (parameter["MinValue"], parameter["MaxValue"]) == (0, MAX_RETENTION_MS // DAY_MS)
