"""`invoke --env-vars` reads SAM's format: "Parameters" for all, then the function's own section."""

import json
from pathlib import Path

import pytest

from local_runtime.invoke import InvokeError, read_env_vars
from local_runtime.running_stack import without_password
from local_runtime.template import FunctionSpec, load_template
from tests.support.paths import REPO_ROOT


@pytest.fixture(scope="module")
def ingest() -> FunctionSpec:
    return load_template(REPO_ROOT / "template.yaml").function("MatchIngestFunction")


def env_file(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "env.json"
    path.write_text(json.dumps(document))
    return path


def test_the_function_section_wins_over_parameters(ingest: FunctionSpec, tmp_path: Path) -> None:
    document = {
        "Parameters": {"MAX_POINTS_PER_EVENT": 2, "KAFKA_TOPIC": "everyone"},
        "MatchIngestFunction": {"MAX_POINTS_PER_EVENT": "7"},
        "ScoreUpdaterFunction": {"KAFKA_TOPIC": "not-for-ingest"},
    }
    chosen = read_env_vars(env_file(tmp_path, document), ingest)
    assert chosen.values == {"MAX_POINTS_PER_EVENT": "7", "KAFKA_TOPIC": "everyone"}
    assert chosen.ignored == ()


def test_variables_the_template_does_not_declare_are_ignored_and_named(ingest: FunctionSpec, tmp_path: Path) -> None:
    chosen = read_env_vars(env_file(tmp_path, {"Parameters": {"UNKNOWN": "1", "REDIS_URL": "redis://h:1/0"}}), ingest)
    assert (chosen.values, chosen.ignored) == ({"REDIS_URL": "redis://h:1/0"}, ("UNKNOWN",))


def test_booleans_and_numbers_become_text(ingest: FunctionSpec, tmp_path: Path) -> None:
    document = {"MatchIngestFunction": {"POWERTOOLS_SERVICE_NAME": True, "MAX_FUTURE_SKEW_SECONDS": 60}}
    values = read_env_vars(env_file(tmp_path, document), ingest).values
    assert values == {"POWERTOOLS_SERVICE_NAME": "true", "MAX_FUTURE_SKEW_SECONDS": "60"}


@pytest.mark.parametrize(
    "document",
    [[], {"Parameters": ["A=1"]}, {"MatchIngestFunction": {"A": {"nested": 1}}}],
)
def test_malformed_files_are_refused(ingest: FunctionSpec, tmp_path: Path, document: object) -> None:
    with pytest.raises(InvokeError):
        read_env_vars(env_file(tmp_path, document), ingest)


def test_a_file_that_is_not_json_is_refused(ingest: FunctionSpec, tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text("{not json")
    with pytest.raises(InvokeError, match="not JSON"):
        read_env_vars(path, ingest)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("rediss://:s3cret@cache.example:6379/0", "rediss://***@cache.example:6379/0"),
        ("redis://user:p%40ss@h:1/0", "redis://***@h:1/0"),
        ("redis+sentinel://u:pw@h1:1,h2:2/svc", "redis+sentinel://***@h1:1,h2:2/svc"),
    ],
)
def test_printed_urls_hide_passwords(url: str, shown: str) -> None:
    assert without_password(url) == shown
