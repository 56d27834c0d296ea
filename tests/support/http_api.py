"""A client for the local API Gateway: one call, the status and the JSON answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Api:
    url: str
    api_key: str

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        key: str | None = "default",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            headers["x-api-key"] = self.api_key if key == "default" else key
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def post(self, path: str, body: object, **options: Any) -> tuple[int, dict[str, Any]]:
        return self.call("POST", path, body, **options)

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        return self.call("GET", path)
