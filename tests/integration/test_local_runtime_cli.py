"""`python -m local_runtime` as a newcomer meets it: a taken port, the ready lines, `invoke`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from local_runtime.api_gateway import ApiGateway, ApiPortInUse
from local_runtime.redis_binaries import server_binary
from local_runtime.running_stack import STATE_FILE
from local_runtime.servers import LocalServers
from tests.support.local_stack import own_servers_environ
from tests.support.paths import EVENTS_DIR, REPO_ROOT
from tests.support.waiting import wait_for

CLI = [sys.executable, "-m", "local_runtime"]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def run_cli(*args: str, environ: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=REPO_ROOT, env=environ, input=stdin, capture_output=True, text=True, timeout=180, check=False
    )


def answer_of(finished: subprocess.CompletedProcess[str]) -> Any:
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)


def body_of(finished: subprocess.CompletedProcess[str]) -> tuple[int, Any]:
    answer = answer_of(finished)
    return answer["statusCode"], json.loads(answer["body"])


def started_pids(stderr: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"started \S+ \(pid (\d+)\)", stderr)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_taken_api_port_is_one_line_naming_it(taken_port: int, tmp_path: Path) -> None:
    finished = run_cli("run", "--workdir", str(tmp_path), environ=own_servers_environ(API_PORT=str(taken_port)))
    assert finished.returncode != 0
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert str(taken_port) in lines[0] and "API_PORT" in lines[0]
    assert not (tmp_path / STATE_FILE).exists()


def test_the_gateway_names_a_port_taken_after_the_check(taken_port: int) -> None:
    with pytest.raises(ApiPortInUse, match=rf"port {taken_port} .*API_PORT"):
        ApiGateway((), {}, api_key="k", port=taken_port)


def state_url(workdir: Path) -> str:
    url: str = json.loads((workdir / STATE_FILE).read_text())["api_url"]
    return url


def read_line_starting(stream: IO[str], prefix: str) -> str:
    for _ in range(200):  # bounded: the stack prints a handful of lines before it is ready
        line = stream.readline()
        if not line or line.startswith(prefix):
            return line
    return ""


def test_make_run_names_its_servers_and_invoke_uses_them(tmp_path: Path) -> None:
    environ = own_servers_environ(API_PORT="0")
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        run = subprocess.Popen(
            [*CLI, "run", "--workdir", str(tmp_path)],
            cwd=REPO_ROOT,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert run.stdout is not None
        assert read_line_starting(run.stdout, "leaderboard ready: http://127.0.0.1:"), log.read_text()
        servers = read_line_starting(run.stdout, "servers: ")
        started_redis = re.escape(f"({server_binary().version}, started)")  # the server REDIS_SERVER picks
        assert re.search(r"redis redis://127\.0\.0\.1:\d+/0 " + started_redis, servers), servers
        assert re.search(r"kafka 127\.0\.0\.1:\d+ \(started, topic score-events\)", servers), servers
        assert re.search(r"aws http://127\.0\.0\.1:\d+ \(moto, started\)", servers), servers
        page_url = read_line_starting(run.stdout, "the page: ").removeprefix("the page: ").strip()
        assert page_url == state_url(tmp_path) + "/", page_url
        with urllib.request.urlopen(page_url, timeout=10) as page:
            assert page.headers["Content-Type"] == "text/html; charset=utf-8" and b"<title>" in page.read()
        state = json.loads((tmp_path / STATE_FILE).read_text())
        assert state["redis_url"] in servers and state["kafka_bootstrap"] in servers
        assert (tmp_path / STATE_FILE).stat().st_mode & 0o077 == 0, "a REDIS_URL may carry a password"

        workdir = ["--workdir", str(tmp_path), "-vv"]
        posted = run_cli(
            "invoke", "MatchIngestFunction", "-e", str(EVENTS_DIR / "post_score.json"), *workdir, environ=environ
        )
        assert body_of(posted)[0] == 202
        assert f"using the servers of the stack running as pid {run.pid}" in posted.stderr
        assert started_pids(posted.stderr) == [], "no server of its own"

        def alice_on_the_board() -> dict[str, Any] | None:
            read = run_cli(
                "invoke",
                "LeaderboardQueryFunction",
                "-e",
                str(EVENTS_DIR / "get_player.json"),
                *workdir,
                environ=environ,
            )
            status, body = body_of(read)
            return body if status == 200 else None

        standing = wait_for(alice_on_the_board, what="the running stack's updater to apply the invoked write")
        assert (standing["user_id"], standing["points"]) == ("alice", 3)
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0
    assert not (tmp_path / STATE_FILE).exists()


def test_invoke_without_a_stack_starts_its_own_servers_and_stops_them(tmp_path: Path) -> None:
    finished = run_cli(
        "invoke", "ScoreUpdaterFunction", "--event", str(EVENTS_DIR / "kafka_batch.json"),
        "--workdir", str(tmp_path), "-vv",
        environ=own_servers_environ(),
    )  # fmt: skip
    assert answer_of(finished) == {"batchItemFailures": []}
    pids = started_pids(finished.stderr)
    assert len(pids) == 3, finished.stderr
    assert not any(alive(pid) for pid in pids)


def test_env_vars_in_sams_format_reach_the_function(servers: LocalServers, tmp_path: Path) -> None:
    environ = own_servers_environ(
        REDIS_URL=servers.redis_url,
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap,
        AWS_ENDPOINT_URL=servers.aws_endpoint_url,
    )
    env_vars = tmp_path / "env.json"

    def post_score_with(document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        env_vars.write_text(json.dumps(document))
        event = ["-e", "-", "-n", str(env_vars), "--workdir", str(tmp_path)]
        return run_cli(
            "invoke", "MatchIngestFunction", *event, environ=environ, stdin=(EVENTS_DIR / "post_score.json").read_text()
        )

    # The sample scores 3 points.
    status, body = body_of(post_score_with({"Parameters": {"MAX_POINTS_PER_EVENT": 2}}))
    assert (status, body["error"]["field"]) == (400, "points")
    status, body = body_of(post_score_with({"MatchIngestFunction": {"MAX_POINTS_PER_EVENT": "2"}}))
    assert (status, body["error"]["field"]) == (400, "points")
    overridden = post_score_with(
        {
            "Parameters": {"MAX_POINTS_PER_EVENT": 2, "NOT_IN_THE_TEMPLATE": "x"},
            "MatchIngestFunction": {"MAX_POINTS_PER_EVENT": 5},
        }
    )
    assert body_of(overridden)[0] == 202, "the function's own section wins over Parameters"
    assert "ignored" in overridden.stderr and "NOT_IN_THE_TEMPLATE" in overridden.stderr
    assert started_pids(overridden.stderr) == []


def test_invoke_names_the_functions_when_one_is_unknown(tmp_path: Path) -> None:
    finished = run_cli(
        "invoke", "NoSuchFunction", "-e", str(EVENTS_DIR / "get_top.json"), "--workdir", str(tmp_path),
        environ=own_servers_environ(),
    )  # fmt: skip
    assert finished.returncode == 2
    assert "LeaderboardQueryFunction" in finished.stderr and "Traceback" not in finished.stderr


def test_a_handler_that_raises_is_reported_as_lambda_reports_it(servers: LocalServers, tmp_path: Path) -> None:
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"ScoreUpdaterFunction": {"REDIS_URL": "redis://127.0.0.1:1/0"}}))
    environ = own_servers_environ(
        KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap, AWS_ENDPOINT_URL=servers.aws_endpoint_url
    )
    finished = run_cli(
        "invoke", "ScoreUpdaterFunction", "-e", str(EVENTS_DIR / "kafka_batch.json"), "-n", str(env_vars),
        "--workdir", str(tmp_path), environ=environ,
    )  # fmt: skip
    assert finished.returncode == 1, finished.stderr
    error = json.loads(finished.stdout)
    assert error["errorType"] and "failed" in error["errorMessage"]
