"""Generate docs/openapi.json from the handlers' Powertools resolvers and template.yaml.

    python tools/openapi.py            # write docs/openapi.json
    python tools/openapi.py --check    # exit 1 if docs/openapi.json differs from what would be written

Paths, parameters, bodies and responses come from the resolvers (`app` in each function the
template routes HTTP to); which operations need credentials comes from the template's `Auth`.
The generated paths must be exactly the template's routes, so the document cannot drift from
either. Importing a handler creates its clients but connects nowhere; the environment points
them at closed loopback ports all the same.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge  # noqa: E402

from local_runtime.lambda_host import environment_overlay, load_handler  # noqa: E402
from local_runtime.template import ApiRoute, LocalTemplate, load_template  # noqa: E402

DOCUMENT = REPO_ROOT / "docs" / "openapi.json"
IMPORT_ENVIRONMENT = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
SECURITY_SCHEMES: dict[str, Any] = {
    "sigv4": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "AWS: IAM authorization. Sign the request with SigV4 (service execute-api) using "
        "credentials allowed execute-api:Invoke on the route: the game servers' role on the score routes, "
        "ModerationAdminRole on /v1/admin/...; see docs/SECURITY.md and docs/MODERATION.md.",
        "x-amazon-apigateway-authtype": "awsSigv4",
    },
    "localApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "Local runtime only: the value of INGEST_API_KEY.",
    },
    "localAdminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "Local runtime only, admin routes: the value of ADMIN_API_KEY.",
    },
}
WRITE_SECURITY: list[dict[str, list[str]]] = [{"sigv4": []}, {"localApiKey": []}]
ADMIN_FUNCTION = "ModerationAdminFunction"
ADMIN_SECURITY: list[dict[str, list[str]]] = [{"sigv4": []}, {"localAdminKey": []}]
DESCRIPTION = (
    "Real-time game leaderboard. Game servers report match results (authenticated writes); anyone "
    "reads a board's top and a player's rank, daily, weekly, monthly or all-time (public, throttled "
    "reads); operators ban, unban and reset players (admin routes, IAM). Every error is "
    '{"error": {"code", "message", "field"?}}: 4xx for the caller\'s mistakes, 503 when Kafka (writes) or '
    "Redis (reads) is unavailable. Bounds marked configurable are the defaults of a deployment."
)
# Powertools documents request validation failures as 422; our resolvers answer them with 400.
_POWERTOOLS_ONLY_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")


def _version() -> str:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def _api_functions(template: LocalTemplate) -> Iterator[tuple[Path, tuple[ApiRoute, ...]]]:
    for spec in template.functions.values():
        if spec.routes:
            yield spec.handler_file, spec.routes


def _resolver_of(handler_file: Path) -> Any:
    with environment_overlay(IMPORT_ENVIRONMENT):
        handler = load_handler(handler_file, repo_root=REPO_ROOT)
    module = sys.modules[handler.__module__]
    return module.app


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def build_document() -> dict[str, Any]:
    template = load_template(REPO_ROOT / "template.yaml")
    merge = OpenAPIMerge(
        title="Real-time leaderboard API",
        version=_version(),
        description=DESCRIPTION,
        security_schemes=SECURITY_SCHEMES,
        on_conflict="error",
    )
    routes: dict[tuple[str, str], ApiRoute] = {}
    for handler_file, function_routes in _api_functions(template):
        schema = _resolver_of(handler_file).get_openapi_schema()
        merge.add_schema(schema.model_dump(mode="json", by_alias=True, exclude_none=True))
        routes.update({(route.method, route.path): route for route in function_routes})
    document: dict[str, Any] = json.loads(json.dumps(merge.get_openapi_schema()))

    documented = {(method, path) for method, path, _ in _operations(document)}
    if documented != set(routes):
        raise SystemExit(
            "openapi: the resolvers' routes differ from template.yaml's: "
            f"only in the resolvers {sorted(documented - set(routes))}, "
            f"only in the template {sorted(set(routes) - documented)}"
        )
    for method, path, operation in _operations(document):
        operation["responses"].pop("422", None)
        route = routes[(method, path)]
        if route.auth_required:
            operation["security"] = ADMIN_SECURITY if route.function_id == ADMIN_FUNCTION else WRITE_SECURITY
    schemas = document.get("components", {}).get("schemas", {})
    for name in _POWERTOOLS_ONLY_SCHEMAS:
        schemas.pop(name, None)
    dangling = [name for name in _POWERTOOLS_ONLY_SCHEMAS if f"#/components/schemas/{name}" in json.dumps(document)]
    if dangling:
        raise SystemExit(f"openapi: {dangling} are still referenced after dropping Powertools' 422 responses")
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/openapi.json, or check that it is current.")
    parser.add_argument("--check", action="store_true", help="fail if the committed document differs")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)

    text = render(build_document())
    if not args.check:
        args.output.write_text(text, encoding="utf-8")
        print(f"openapi: wrote {args.output}")
        return 0
    committed = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
    if committed == text:
        print(f"openapi: {args.output.name} is up to date")
        return 0
    diff = difflib.unified_diff(
        committed.splitlines(keepends=True), text.splitlines(keepends=True), "committed", "generated", n=2
    )
    sys.stdout.writelines(list(diff)[:80])
    print(f"\nopenapi: {args.output} is out of date; run `make openapi` (python tools/openapi.py)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sys.exit(main())
