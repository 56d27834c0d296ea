"""One handler on one event, like `sam local invoke` but without Docker.

    python -m local_runtime invoke MatchIngestFunction --event events/post_score.json [--env-vars env.json]

Servers, first match wins: those named by REDIS_URL / KAFKA_BOOTSTRAP_SERVERS / AWS_ENDPOINT_URL
(in `--env-vars` or the shell), then those of a running `make run` (its `stack.json`), else
redis-server, Tansu and moto started for this call and stopped after it. The function gets the
template's environment with the local endpoints, as under `make run`, then the `--env-vars` file
applied as SAM applies it: "Parameters" for every function, then the function's own section (by
logical id or FunctionName), each only for variables the template declares for that function.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local_runtime.kafka_admin import ensure_topic
from local_runtime.lambda_host import environment_overlay
from local_runtime.running_stack import find_running
from local_runtime.servers import LocalServers
from local_runtime.stack import (
    DEFAULT_API_KEY,
    DEFAULT_ARCHIVE_BUCKET,
    DEFAULT_AUDIT_TABLE,
    DEFAULT_DLQ_NAME,
    REGION,
    UPDATER_FUNCTION,
    _create_bucket,
    _create_queue,
    _load_function,
    create_audit_table,
    local_environment,
)
from local_runtime.template import FunctionSpec, LocalTemplate, TemplateError, load_template

SERVER_VARIABLES = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL", "LOCALSTACK_HOST")
GLOBAL_SECTION = "Parameters"


class InvokeError(ValueError):
    """The command line names something that cannot be used: a function, an event or an env-vars file."""


@dataclass(frozen=True)
class EnvVars:
    values: dict[str, str]  # applied to the function
    ignored: tuple[str, ...]  # named in the file, not declared for the function in the template


def read_env_vars(path: Path, spec: FunctionSpec) -> EnvVars:
    """The variables an env-vars file sets for `spec`: "Parameters", then its FunctionName, then its logical id."""
    document = _read_json(path, "env-vars file")
    if not isinstance(document, dict):
        raise InvokeError(f'{path}: must be a JSON object like {{"{spec.logical_id}": {{"NAME": "value"}}}}')
    chosen: dict[str, str] = {}
    for section in (GLOBAL_SECTION, spec.function_name, spec.logical_id):
        variables = document.get(section, {})
        if not isinstance(variables, dict):
            raise InvokeError(f"{path}: {section!r} must be an object of variable names to values")
        for name, value in variables.items():
            chosen[name] = _variable_text(path, section, name, value)
    declared = set(spec.environment) | set(spec.unresolved_environment)
    return EnvVars(
        values={name: value for name, value in chosen.items() if name in declared},
        ignored=tuple(sorted(set(chosen) - declared)),
    )


def load_event(path: str) -> Any:
    """The event from a file, or from stdin for "-"."""
    if path == "-":
        try:
            return json.loads(sys.stdin.read())
        except ValueError as error:
            raise InvokeError(f"the event on stdin is not JSON: {error}") from None
    return _read_json(Path(path), "event file")


def invoke(
    function_id: str,
    event: Any,
    *,
    template_path: Path,
    stack_workdir: Path,
    env_vars_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    quiet: bool = True,
) -> Any:
    """The handler's answer. Handler output (logs, metrics) goes to stderr, as under `sam local invoke`."""
    environ = dict(os.environ if environ is None else environ)
    template = load_template(template_path, region=REGION)
    spec = _function(template, function_id)
    env_vars = read_env_vars(env_vars_path, spec) if env_vars_path else EnvVars({}, ())
    if env_vars.ignored:
        print(
            f"invoke: not declared for {spec.logical_id} in the template, so ignored (as by SAM): "
            + ", ".join(env_vars.ignored),
            file=sys.stderr,
        )
    with _servers(environ, env_vars.values, stack_workdir) as servers:
        topic = spec.environment.get("KAFKA_TOPIC") or template.parameter("ScoreTopic")
        if servers.kafka is not None:
            servers.kafka.create_topic(topic, template.score_topic_partitions)
        else:
            ensure_topic(servers.kafka_bootstrap, topic, template.score_topic_partitions)
        dlq_url = _create_queue(servers.aws_endpoint_url, DEFAULT_DLQ_NAME, environ)
        _create_bucket(servers.aws_endpoint_url, DEFAULT_ARCHIVE_BUCKET, environ)
        create_audit_table(servers.aws_endpoint_url, DEFAULT_AUDIT_TABLE, environ)
        api_key = environ.get("INGEST_API_KEY") or DEFAULT_API_KEY
        group = template.kafka_trigger_for(UPDATER_FUNCTION).consumer_group_id
        local_env = local_environment(environ, servers, dlq_url, api_key, quiet=quiet, consumer_group=group)
        function_env = {**local_env, **env_vars.values}
        with environment_overlay({**spec.environment, **function_env}), contextlib.redirect_stdout(sys.stderr):
            function = _load_function(template, spec.logical_id, function_env)
            return function.invoke(event)


@contextlib.contextmanager
def _servers(environ: Mapping[str, str], overrides: Mapping[str, str], stack_workdir: Path) -> Iterator[LocalServers]:
    running = find_running(stack_workdir)
    named = {name: value for name, value in {**environ, **overrides}.items() if name in SERVER_VARIABLES and value}
    chosen = {**(running.server_environ() if running else {}), **named}
    if running is not None:
        print(f"invoke: using the servers of the stack running as pid {running.pid}", file=sys.stderr)
    with (
        tempfile.TemporaryDirectory(prefix="leaderboard-invoke-") as scratch,
        LocalServers(Path(scratch), {**environ, **chosen}) as servers,
    ):
        yield servers


def _function(template: LocalTemplate, function_id: str) -> FunctionSpec:
    by_name = {spec.function_name: spec for spec in template.functions.values()}
    try:
        return template.function(function_id)
    except TemplateError:
        if function_id in by_name:
            return by_name[function_id]
        known = ", ".join(sorted(template.functions))
        raise InvokeError(f"no function {function_id!r} in the template; its functions: {known}") from None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except OSError as error:
        raise InvokeError(f"cannot read the {what} {path}: {error.strerror}") from None
    except ValueError as error:
        raise InvokeError(f"the {what} {path} is not JSON: {error}") from None


def _variable_text(path: Path, section: str, name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise InvokeError(f"{path}: {section}.{name} must be a string, number or boolean")
