"""API Gateway (REST API, Lambda proxy integration) in front of the local handlers.

Each request becomes a v1 proxy event for the function the template routes it to. Routes whose
template auth is not public require the local stand-in for IAM: header `x-api-key` equal to the
key of the role allowed to call them (`INGEST_API_KEY` by default; `ADMIN_API_KEY` for the admin
function's routes, through `route_keys`); the key is checked here and not passed on to the
handler, which sees instead the role it stands for as the caller's identity. Bodies over 1 MiB are
refused before they are read. Framing that could be read two ways (a Content-Length that is not
one ASCII number, a repeated x-api-key, an HTTP/2 request line) is answered with a 400.

A body that is UTF-8 goes to the handler as text; any other body goes base64-encoded with
isBase64Encoded, as API Gateway hands over a binary media type, so the handler sees the bytes
sent and refuses them. (Without a binary media type, API Gateway would put U+FFFD in their
place; the handler refuses that too.) As in AWS, a function that fails or runs past its Timeout
gives a 502, and one still running at the integration limit (29 s) a 504.
"""

from __future__ import annotations

import base64
import errno
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from local_runtime.api_routes import RouteMatch, RouteTable
from local_runtime.lambda_host import InvocationTimedOut, LocalFunction
from local_runtime.live_gateway import LiveGateway
from local_runtime.template import ApiRoute
from local_runtime.web_page import WebPage, page_origin
from shared.adapters.settings import API_GATEWAY_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# After refusing a request, its unread body is read and dropped (never kept) for a while, so the
# client gets to read our answer instead of a connection reset while it is still sending.
_DISCARD_MAX_BYTES = 64 * MAX_BODY_BYTES
_DISCARD_MAX_SECONDS = 2.0
API_KEY_HEADER = "x-api-key"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")  # ASCII digits only: str.isdigit also takes '²'
# http.server's own refusals, by status; its 505 (an HTTP/2 request line) is answered as a 400.
_REFUSAL_CODES = {
    400: "bad_request",
    408: "request_timeout",
    414: "uri_too_long",
    431: "headers_too_large",
    505: "unsupported_http_version",
}


class ApiPortInUse(RuntimeError):
    """Another process listens on the port the API was asked to serve on."""

    def __init__(self, host: str, port: int) -> None:
        suggestion = port + 1 if port < 65535 else port - 1
        super().__init__(
            f"port {port} on {host} is already in use: stop what listens there, "
            f"or choose another port with API_PORT (e.g. API_PORT={suggestion} make run)"
        )
        self.port = port


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise ApiPortInUse now if `port` is taken, before minutes are spent starting servers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as HTTPServer binds
        try:
            probe.bind((host, port))
        except OSError as failure:
            if failure.errno == errno.EADDRINUSE:
                raise ApiPortInUse(host, port) from None
            raise


class ApiGateway:
    """A ThreadingHTTPServer on 127.0.0.1:`port` (0: a free port) serving `routes`."""

    def __init__(
        self,
        routes: tuple[ApiRoute, ...],
        functions: Mapping[str, LocalFunction],
        *,
        api_key: str,
        port: int = 0,
        host: str = "127.0.0.1",
        stage: str = "local",
        integration_timeout_seconds: float = API_GATEWAY_TIMEOUT_SECONDS,
        live: LiveGateway | None = None,  # the WebSocket API at /v1/live and its management API
        page: WebPage | None = None,
        route_keys: Mapping[str, str] | None = None,  # function id -> the key its routes take instead of api_key
    ) -> None:
        missing = {route.function_id for route in routes} - set(functions)
        if missing:
            raise ValueError(f"routes name functions that are not loaded: {sorted(missing)}")
        keys = {**dict.fromkeys(functions, api_key), **(route_keys or {})}
        if not all(keys.values()):
            raise ValueError("an empty api key would let anyone through")
        if route_keys and api_key in route_keys.values():
            raise ValueError("each role's key must differ from the ingest key, or either could call the other's routes")
        request_handler = type(
            "BoundRequestHandler",
            (_ProxyRequestHandler,),
            {
                "table": RouteTable(routes),
                "functions": dict(functions),
                "api_keys": keys,
                "stage": stage,
                "integration_timeout": integration_timeout_seconds,
                "live": live,
                "page": page,
            },
        )
        try:
            self._server = ThreadingHTTPServer((host, port), request_handler)
        except OSError as failure:
            if failure.errno == errno.EADDRINUSE:
                raise ApiPortInUse(host, port) from None
            raise
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._live = live

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiGateway:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="api-gateway", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._live is not None:
            self._live.close_all()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class _ProxyRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, for load generators
    timeout = 30  # a client that stops sending does not hold a thread forever
    table: RouteTable
    functions: dict[str, LocalFunction]
    api_keys: dict[str, str]  # function id -> the key its non-public routes take
    stage: str
    integration_timeout: float
    live: LiveGateway | None
    page: WebPage | None
    _body_read = False

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def __getattr__(self, name: str) -> Any:
        # Other methods (TRACE, made-up ones) get the route table's 404/405 too, not http.server's 501.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a malformed request line, headers too long, HTTP/2) in the API's
        # JSON shape. A request line it could not read, or one of another HTTP version, leaves the
        # version at one whose answer it would not write as HTTP/1.x.
        self.close_connection = True
        if self.request_version not in ("HTTP/1.0", "HTTP/1.1"):
            self.request_version = "HTTP/1.0"
        reason = message or self.responses.get(code, ("error",))[0]
        if code == 505:
            reason = f"{reason}: this API speaks HTTP/1.1"
        refusal = _REFUSAL_CODES.get(code, "bad_request")
        status = 400 if code == 505 else code
        self._send(status, {"Content-Type": "application/json", "Connection": "close"}, error_body(refusal, reason))
        self._drain_unframed()

    def _dispatch(self) -> None:
        self._body_read = False
        framing_problem = self._framing_problem()
        if framing_problem:
            self._refuse(400, "bad_request", framing_problem)
            return
        if self.live is not None and self.live.handles(self):
            return
        method = self.command
        target = urlsplit(self.path)
        if self.page is not None:
            origin = page_origin(self.headers.get("Host"), self.connection.getsockname()[1])
            page_answer = self.page.answer(method, target.path, origin)
            if page_answer is not None:
                self._send(page_answer.status, page_answer.headers, page_answer.body)
                return
        found = self.table.match(method, target.path)
        if not isinstance(found, RouteMatch):
            if found.status == 404:
                self._refuse(404, "not_found", f"no route for {target.path}")
            else:
                allowed = ", ".join(found.allowed_methods)
                self._refuse(405, "method_not_allowed", f"{method} not allowed; use {allowed}", {"Allow": allowed})
            return
        if found.route.auth_required and not self._authorized(found.route.function_id):
            return
        body = self._read_body()
        if body is None:
            return
        event = self._proxy_event(found, target.path, target.query, body)
        function = self.functions[found.route.function_id]
        try:
            result = function.invoke(event, caller_limit_seconds=self.integration_timeout)
            status, headers, payload = _proxy_response(result)
        except InvocationTimedOut as timed_out:
            logger.warning("%s", timed_out)
            code, message = ("integration_timeout", "endpoint request timed out")
            if not timed_out.by_caller:
                code, message = ("function_timeout", "the function timed out")
            self._send(
                504 if timed_out.by_caller else 502, {"Content-Type": "application/json"}, error_body(code, message)
            )
            return
        except Exception as failure:
            logger.warning("%s raised %s: %s", found.route.function_id, type(failure).__name__, failure)
            logger.debug("handler failure", exc_info=True)
            self._send(502, {"Content-Type": "application/json"}, error_body("internal_error", "internal server error"))
            return
        self._send(status, headers, payload)

    def _framing_problem(self) -> str | None:
        """Why the headers could be read two ways (by us and by a proxy in front), or None."""
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1:
            return "Content-Length given more than once"
        if lengths and not _CONTENT_LENGTH.fullmatch(lengths[0].strip()):
            return "Content-Length must be one non-negative integer in ASCII digits"
        if len(self.headers.get_all(API_KEY_HEADER) or []) > 1:
            return f"{API_KEY_HEADER} given more than once"
        return None

    def _declared_length(self) -> int | None:
        """The body's length from a Content-Length that passed `_framing_problem`; None if there is none."""
        declared = self.headers.get("Content-Length")
        return int(declared) if declared is not None else None

    def _authorized(self, function_id: str) -> bool:
        presented = self.headers.get(API_KEY_HEADER)
        if presented is None:
            self._refuse(401, "unauthorized", f"missing {API_KEY_HEADER} header")
            return False
        if not hmac.compare_digest(presented.encode(), self.api_keys[function_id].encode()):
            self._refuse(403, "forbidden", f"invalid {API_KEY_HEADER}")
            return False
        return True

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering with an error."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._refuse(411, "length_required", "send a Content-Length; chunked bodies are not accepted")
            return None
        length = self._declared_length() or 0
        if length > MAX_BODY_BYTES:
            self._refuse(413, "payload_too_large", f"request body over {MAX_BODY_BYTES} bytes")
            return None
        raw = self.rfile.read(length) if length else b""
        self._body_read = True
        return raw

    def _proxy_event(self, found: RouteMatch, raw_path: str, query: str, raw_body: bytes) -> dict[str, Any]:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            if name.lower() == API_KEY_HEADER:
                continue  # the credential stops here: nothing downstream can log what it never sees
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query_params: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            query_params[name] = value
            multi_query.setdefault(name, []).append(value)
        try:
            body, is_base64 = raw_body.decode(), False
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(raw_body).decode(), True
        request_id = str(uuid.uuid4())
        now = time.time()
        return {
            "resource": found.route.path,
            "path": raw_path,
            "httpMethod": self.command,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query_params or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": found.path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "local",
                "resourceId": "local",
                "resourcePath": found.route.path,
                "httpMethod": self.command,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "path": f"/{self.stage}{raw_path}",
                "stage": self.stage,
                "protocol": self.request_version,
                "identity": {
                    "sourceIp": self.client_address[0],
                    "userAgent": self.headers.get("User-Agent"),
                    # What IAM would name: the role the key stands for (never the key itself).
                    "userArn": f"local:{found.route.function_id}-caller" if found.route.auth_required else None,
                },
            },
            "body": body or None,
            "isBase64Encoded": is_base64,
        }

    def _refuse(self, status: int, code: str, message: str, extra_headers: Mapping[str, str] | None = None) -> None:
        # The body may be unread: never reuse this connection for another request.
        self.close_connection = True
        headers = {"Content-Type": "application/json", "Connection": "close", **(extra_headers or {})}
        self._send(status, headers, error_body(code, message))
        if not self._body_read:
            self._discard_incoming_body()

    def _discard_incoming_body(self) -> None:
        if self._framing_problem() or "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._drain_unframed()
            return
        remaining = min(self._declared_length() or 0, _DISCARD_MAX_BYTES)
        deadline = time.monotonic() + _DISCARD_MAX_SECONDS
        try:
            self.connection.settimeout(_DISCARD_MAX_SECONDS)
            while remaining > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(remaining, 64 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass  # the client gave up first: nothing left to protect

    def _drain_unframed(self) -> None:
        """After an answer to a request whose end is unknown: tell the client we are done, then read
        what it still sends (bounded) so closing does not reset the connection over our answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DISCARD_MAX_SECONDS)
            deadline = time.monotonic() + _DISCARD_MAX_SECONDS
            remaining = _DISCARD_MAX_BYTES
            while remaining > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(64 * 1024)
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass  # the client gave up first: nothing left to protect

    def _send(self, status: int, headers: Mapping[str, str | list[str]], payload: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                for item in value if isinstance(value, list) else [value]:
                    self.send_header(name, item)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client left before the %d answer was written", status)


def _proxy_response(result: Any) -> tuple[int, dict[str, str | list[str]], bytes]:
    """statusCode, headers and body bytes from a proxy integration result (ValueError if malformed)."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        raise ValueError(f"handler returned {type(result).__name__} without an integer statusCode")
    headers: dict[str, str | list[str]] = {}
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in _HOP_BY_HOP:
            headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() not in _HOP_BY_HOP:
            headers[name] = [str(value) for value in values]
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise ValueError("handler returned a non-string body")
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), headers, payload
