"""Match a request path and method against the template's API routes, as API Gateway does."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from local_runtime.template import ApiRoute

_GREEDY = re.compile(r"\{(\w+)\+\}")
_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class RouteMatch:
    route: ApiRoute
    path_parameters: dict[str, str]  # as they appear in the path: still percent-encoded


@dataclass(frozen=True)
class RouteMiss:
    status: int  # 404: no such resource; 405: resource exists, method does not
    allowed_methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    specificity: tuple[int, int]  # fewer greedy, then fewer plain parameters: more specific


def _compile(route: ApiRoute) -> _CompiledRoute:
    pieces = []
    greedy = plain = 0
    for segment in route.path.strip("/").split("/"):
        if match := _GREEDY.fullmatch(segment):
            pieces.append(f"(?P<{match.group(1)}>.+)")
            greedy += 1
        elif match := _PARAMETER.fullmatch(segment):
            pieces.append(f"(?P<{match.group(1)}>[^/]+)")
            plain += 1
        else:
            pieces.append(re.escape(segment))
    return _CompiledRoute(route, re.compile("/" + "/".join(pieces)), (greedy, plain))


class RouteTable:
    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self._routes = sorted((_compile(route) for route in routes), key=lambda compiled: compiled.specificity)

    def match(self, method: str, raw_path: str) -> RouteMatch | RouteMiss:
        path = raw_path.rstrip("/") or "/"
        on_path = [(compiled, found) for compiled in self._routes if (found := compiled.pattern.fullmatch(path))]
        if not on_path:
            return RouteMiss(404)
        for compiled, found in on_path:
            if compiled.route.method in (method, "ANY"):
                return RouteMatch(compiled.route, found.groupdict())
        return RouteMiss(405, tuple(sorted({compiled.route.method for compiled, _ in on_path})))
