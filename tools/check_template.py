"""Offline validation of the SAM template (no AWS account, no Docker, no network).

    python tools/check_template.py [template.yaml] [--region us-east-1] [--output out.json] [--strict]

Steps, each of which must pass:

1. cfn-lint on the SAM source (catches schema errors in the SAM resources themselves).
2. Translate the template to plain CloudFormation with ``samtranslator``, offline: local
   ``CodeUri``/``ContentUri``/``DefinitionUri`` paths become dummy ``s3://`` URIs and the managed
   policy map is empty. Translation errors (bad event properties, bad references) are reported.
3. cfn-lint on the translated CloudFormation JSON. This is the step that catches value errors the
   SAM-level lint misses: a wrong runtime, a BatchSize above 10 000, a bad StartingPosition, a
   ``!GetAtt`` to a missing attribute.
4. Contract check: the logical IDs, routes, trigger and environment variables that the handlers
   and the local runtime rely on are present.

Errors fail the run; warnings are printed and fail it only with ``--strict``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from cfnlint.api import ManualArgs, lint_file
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import intrinsics_multi_constructor

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
DUMMY_BUCKET = "offline-check-artifacts"
MAX_MESSAGE_CHARS = 400
FUNCTIONS = (
    "MatchIngestFunction",
    "LeaderboardQueryFunction",
    "ScoreUpdaterFunction",
    "LiveConnectionFunction",
    "LiveNotifierFunction",
    "PeriodCloserFunction",
)

# Properties holding a local path that `sam build` / `sam package` would upload.
_LOCAL_URI_PROPERTIES: dict[str, tuple[str, ...]] = {
    "AWS::Serverless::Function": ("CodeUri",),
    "AWS::Serverless::LayerVersion": ("ContentUri",),
    "AWS::Serverless::Api": ("DefinitionUri",),
    "AWS::Serverless::HttpApi": ("DefinitionUri",),
    "AWS::Serverless::StateMachine": ("DefinitionUri",),
}

# What the handlers and the local runtime read from the template (see docs/DEPLOY.md).
REQUIRED_GLOBAL_ENV = (
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "REDIS_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_TOPIC",
    "KAFKA_SECURITY_PROTOCOL",
    "IDEMPOTENCY_WINDOW_SECONDS",
    "MAX_POINTS_PER_EVENT",
    "MAX_EVENTS_PER_BATCH",
    "MAX_FUTURE_SKEW_SECONDS",
    "LATE_EVENT_GRACE_SECONDS",
    "LATE_EVENT_GRACE_DAILY_SECONDS",
    "LATE_EVENT_GRACE_WEEKLY_SECONDS",
    "LATE_EVENT_GRACE_MONTHLY_SECONDS",
    "BOARD_RETENTION_DAILY_DAYS",
    "BOARD_RETENTION_WEEKLY_DAYS",
    "BOARD_RETENTION_MONTHLY_DAYS",
    "LEADERBOARD_WINDOWS",
    "REDIS_WAIT_REPLICAS",
    "BOARD_SHARDS",
)
# Each function's own: its log and metric service name, and its own Redis user's secret.
REQUIRED_FUNCTION_ENV = ("POWERTOOLS_SERVICE_NAME", "REDIS_SECRET_ARN")
REQUIRED_ROUTES: dict[str, set[tuple[str, str, bool]]] = {
    # function -> {(METHOD, path, requires IAM auth)}
    "MatchIngestFunction": {("POST", "/v1/scores", True), ("POST", "/v1/scores/batch", True)},
    "LeaderboardQueryFunction": {
        ("GET", "/v1/leaderboards/monthly/top", False),
        ("GET", "/v1/leaderboards/monthly/users/{user_id}", False),
        ("GET", "/v1/leaderboards/{window}/top", False),
        ("GET", "/v1/leaderboards/{window}/users/{user_id}", False),
        ("GET", "/v1/leaderboards/{window}/periods", False),
    },
}
REQUIRED_MSK_PROPERTIES = (
    "Stream",
    "Topics",
    "StartingPosition",
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ConsumerGroupId",
    "FunctionResponseTypes",
    "MaximumRetryAttempts",
    "DestinationConfig",
)


@dataclass(frozen=True)
class Finding:
    step: str
    severity: str  # "error" | "warning"
    where: str
    message: str

    def render(self) -> str:
        message = self.message
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        return f"  [{self.severity.upper():7}] {self.where}: {message}"


class _CfnYamlLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation short-form tags (!Ref, !Sub, ...).

    A subclass, so the global ``yaml.SafeLoader`` is left untouched.
    """


_CfnYamlLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a SAM/CloudFormation YAML template into plain dicts (intrinsics in long form)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnYamlLoader)  # a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level is not a mapping")
    return data


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith("s3://")


def with_dummy_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """Copy of ``template`` with local code/content paths replaced by dummy s3:// URIs."""
    out = copy.deepcopy(template)
    globals_function = out.get("Globals", {}).get("Function", {})
    if _is_local_path(globals_function.get("CodeUri")):
        globals_function["CodeUri"] = f"s3://{DUMMY_BUCKET}/globals.zip"
    for logical_id, resource in out.get("Resources", {}).items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties")
        if not isinstance(props, dict):
            continue
        for prop in _LOCAL_URI_PROPERTIES.get(str(resource.get("Type")), ()):
            if _is_local_path(props.get(prop)):
                props[prop] = f"s3://{DUMMY_BUCKET}/{logical_id}.zip"
    return out


def translate(template: dict[str, Any], region: str) -> dict[str, Any]:
    """Translate a SAM template to CloudFormation offline (raises InvalidDocumentException)."""
    empty_policy_map: Callable[[], dict[str, str]] = dict
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    result: dict[str, Any] = translator.translate(
        with_dummy_artifacts(template),
        parameter_values={},
        get_managed_policy_map=empty_policy_map,
    )
    return result


def run_cfn_lint(path: Path, step: str, region: str) -> list[Finding]:
    findings: list[Finding] = []
    for match in lint_file(path, config=ManualArgs(regions=[region])):
        severity = str(getattr(match.rule, "severity", "error")).lower()
        if severity not in ("error", "warning"):
            continue  # informational
        where = f"{Path(str(match.filename)).name}:{match.linenumber}" if match.filename else "template"
        findings.append(Finding(step, severity, where, f"{match.rule.id} {match.message}"))
    return findings


def _events(resources: dict[str, Any], function_id: str) -> dict[str, Any]:
    fn = resources.get(function_id, {})
    events = fn.get("Properties", {}).get("Events", {}) if isinstance(fn, dict) else {}
    return events if isinstance(events, dict) else {}


def _layer_problems(template: dict[str, Any]) -> list[str]:
    """Each function ships its own layer, built by layers/Makefile from what the function imports
    (tools/lambda_layers.py): one layer per function, none in Globals, none shared."""
    resources: dict[str, Any] = template.get("Resources", {})
    problems = []
    if "Layers" in template.get("Globals", {}).get("Function", {}):
        problems.append("Globals.Function.Layers would give every function the same layer")
    owners: dict[str, str] = {}
    for function_id in FUNCTIONS:
        layers = resources.get(function_id, {}).get("Properties", {}).get("Layers", [])
        refs = [layer.get("Ref") for layer in layers if isinstance(layer, dict)]
        if len(layers) != 1 or not refs or not isinstance(refs[0], str):
            problems.append(f"{function_id} should have exactly one layer, a !Ref to its own, found {layers!r}")
            continue
        layer = resources.get(refs[0], {})
        built_by = (layer.get("Metadata", {}).get("BuildMethod"), layer.get("Properties", {}).get("ContentUri"))
        if layer.get("Type") != "AWS::Serverless::LayerVersion" or built_by != ("makefile", "layers/"):
            problems.append(f"{refs[0]} should be an AWS::Serverless::LayerVersion built by layers/Makefile")
        if refs[0] in owners:
            problems.append(f"{function_id} shares {refs[0]} with {owners[refs[0]]}")
        owners[refs[0]] = function_id
    return problems


def check_contract(template: dict[str, Any]) -> list[Finding]:
    """The names the code and the local runtime depend on (a rename must be deliberate)."""
    problems: list[str] = []
    resources: dict[str, Any] = template.get("Resources", {})
    expected_types = {
        "LeaderboardApi": "AWS::Serverless::Api",
        "MatchIngestFunction": "AWS::Serverless::Function",
        "LeaderboardQueryFunction": "AWS::Serverless::Function",
        "ScoreUpdaterFunction": "AWS::Serverless::Function",
        "DeadLetterQueue": "AWS::SQS::Queue",
        # The local runtime serves the WebSocket API with LiveConnectionFunction and polls
        # LiveChangesQueue for LiveNotifierFunction (local_runtime/stack.py).
        "LiveConnectionFunction": "AWS::Serverless::Function",
        "LiveNotifierFunction": "AWS::Serverless::Function",
        "LiveChangesQueue": "AWS::SQS::Queue",
        "LiveApi": "AWS::ApiGatewayV2::Api",
    }
    for logical_id, rtype in expected_types.items():
        actual = resources.get(logical_id, {}).get("Type")
        if actual != rtype:
            problems.append(f"resource {logical_id} should be {rtype}, found {actual!r}")

    env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    problems += [f"Globals.Function.Environment.Variables lacks {k}" for k in REQUIRED_GLOBAL_ENV if k not in env]

    problems += _layer_problems(template)
    for function_id in FUNCTIONS:
        own_env = resources.get(function_id, {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
        problems += [f"{function_id} lacks its own {k}" for k in REQUIRED_FUNCTION_ENV if k not in own_env]

    for function_id, routes in REQUIRED_ROUTES.items():
        found: set[tuple[str, str, bool]] = set()
        for event in _events(resources, function_id).values():
            if event.get("Type") != "Api":
                continue
            props = event.get("Properties", {})
            auth = props.get("Auth", {}).get("Authorizer") == "AWS_IAM"
            found.add((str(props.get("Method", "")).upper(), str(props.get("Path")), auth))
        problems += [
            f"{function_id} lacks route {m} {p} ({'IAM auth' if a else 'no auth'})"
            for m, p, a in sorted(routes - found)
        ]

    msk = _events(resources, "ScoreUpdaterFunction").get("ScoreEvents", {})
    if msk.get("Type") != "MSK":
        problems.append("ScoreUpdaterFunction.Events.ScoreEvents should be of Type MSK")
    else:
        props = msk.get("Properties", {})
        problems += [f"ScoreEvents lacks {p}" for p in REQUIRED_MSK_PROPERTIES if p not in props]
        if "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
            problems.append("ScoreEvents must report batch item failures")
    updater_env = (
        resources.get("ScoreUpdaterFunction", {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
    )
    if "DEAD_LETTER_QUEUE_URL" not in updater_env:
        problems.append("ScoreUpdaterFunction lacks DEAD_LETTER_QUEUE_URL")
    if "CHANGES_QUEUE_URL" not in updater_env:
        problems.append("ScoreUpdaterFunction lacks CHANGES_QUEUE_URL (the live notifier's change reports)")
    return [Finding("contract", "error", "template", p) for p in problems]


def check(template_path: Path, region: str, output: Path | None) -> tuple[list[Finding], Path | None]:
    """Run every step; return the findings and the translated JSON kept for inspection, if any."""
    findings = run_cfn_lint(template_path, "cfn-lint (SAM source)", region)
    try:
        template = load_template(template_path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        return [*findings, Finding("parse", "error", str(template_path), str(exc))], None

    findings += check_contract(template)
    try:
        translated = translate(template, region)
    except InvalidDocumentException as exc:
        causes = getattr(exc, "causes", None) or [exc]
        return findings + [Finding("sam translate", "error", "template", str(c.message)) for c in causes], None

    text = json.dumps(translated, indent=2) + "\n"
    if output is not None:
        output.write_text(text, encoding="utf-8")
        return findings + run_cfn_lint(output, "cfn-lint (translated)", region), output
    tmp_dir = Path(tempfile.mkdtemp(prefix="check_template_"))
    cfn_path = tmp_dir / "translated.json"
    cfn_path.write_text(text, encoding="utf-8")
    translated_findings = run_cfn_lint(cfn_path, "cfn-lint (translated)", region)
    if translated_findings:
        return findings + translated_findings, cfn_path  # kept: the findings' line numbers point into it
    cfn_path.unlink()
    tmp_dir.rmdir()
    return findings, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Offline validation of the SAM template.")
    parser.add_argument("template", nargs="?", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--region", default="us-east-1", help="region to lint against (default us-east-1)")
    parser.add_argument("--output", type=Path, help="also keep the translated CloudFormation JSON here")
    parser.add_argument("--strict", action="store_true", help="fail on warnings too")
    args = parser.parse_args(argv)
    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # feature-toggle chatter

    template_path: Path = args.template.resolve()
    if not template_path.is_file():
        print(f"check_template: no such file: {template_path}", file=sys.stderr)
        return 2

    findings, translated_path = check(template_path, args.region, args.output)
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    for step in dict.fromkeys(f.step for f in findings):
        print(f"{step}:")
        for finding in findings:
            if finding.step == step:
                print(finding.render())
    if translated_path is not None:
        print(f"translated CloudFormation: {translated_path}")
    failed = bool(errors) or (args.strict and bool(warnings))
    verdict = "FAILED" if failed else "OK"
    print(f"check_template: {verdict}: {template_path.name}: {len(errors)} error(s), {len(warnings)} warning(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
