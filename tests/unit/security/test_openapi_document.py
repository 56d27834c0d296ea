"""docs/openapi.json declares the credentials writes need and every error answer, with its schema.

`make openapi-check` (tools/openapi.py --check) keeps the file equal to what the handlers generate.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.security

DOCUMENT: dict[str, Any] = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in DOCUMENT["paths"].items() for method, op in item.items()]


def test_writes_need_credentials_and_reads_do_not() -> None:
    for method, path, operation in operations():
        if path.startswith("/v1/admin/"):
            assert operation["security"] == [{"sigv4": []}, {"localAdminKey": []}], path
            assert {"401", "403"} <= set(operation["responses"]), path
        elif method == "post":
            assert operation["security"] == [{"sigv4": []}, {"localApiKey": []}], path
            assert {"401", "403", "409", "413"} <= set(operation["responses"]), path
        else:
            assert "security" not in operation, path
    assert DOCUMENT["components"]["securitySchemes"]["localApiKey"]["name"] == "x-api-key"
    assert DOCUMENT["components"]["securitySchemes"]["localAdminKey"]["name"] == "x-api-key"


def test_every_error_answer_uses_the_error_schema() -> None:
    for _, path, operation in operations():
        responses = operation["responses"]
        assert {"400", "503"} <= set(responses), path
        assert "422" not in responses, "validation failures are answered with 400"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == ERROR_REF, (path, status)
    detail = DOCUMENT["components"]["schemas"]["ErrorDetail"]
    assert detail["required"] == ["code", "message"]
