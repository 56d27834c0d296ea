"""API Gateway's WebSocket API, locally: `ws://127.0.0.1:$API_PORT/v1/live` and the management API.

A client's HTTP upgrade request on /v1/live becomes a `$connect` invocation of the live function
(refused with the function's status, e.g. 429, when it answers other than 2xx), each message an
invocation of the route `$request.body.action` selects (`subscribe`, else `$default`; binary
frames base64-encoded, as API Gateway hands them), and the end of the socket a `$disconnect`.
The functions answer clients through the management API, served on the same port as AWS serves
it on the stage URL: `POST /@connections/{id}` sends a message, `DELETE` closes, `GET` describes;
an unknown connection is a 410 GoneException, which boto3's `apigatewaymanagementapi` raises as in AWS.

Framing is the `websockets` package's sans-I/O ServerProtocol, driven from the HTTP server's
thread for the connection; pushes from other threads write under the connection's lock. Writes
never wait on the client: API Gateway buffers for a slow client, and here a client whose socket
cannot take a frame at once (it stopped reading) is dropped, so a push never hangs on it. Limits
follow API Gateway's: 128 KiB messages, 10 minutes idle.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import secrets
import select
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from local_runtime.lambda_host import LocalFunction

logger = logging.getLogger(__name__)

LIVE_PATH = "/v1/live"
CONNECTIONS_PREFIX = "/@connections/"
MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
IDLE_TIMEOUT_SECONDS = 600.0  # API Gateway closes a connection idle for 10 minutes
INVOCATION_LIMIT_SECONDS = 29.0
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009


def _connection_id() -> str:
    # API Gateway's ids are 12 random bytes in base64 ("L0SM9cOFvHcCIhw="): characters that need
    # percent-encoding in the management API's path, as in AWS.
    return base64.b64encode(secrets.token_bytes(10)).decode()


class _ClientNotReading(OSError):
    """The client's socket could not take a frame without waiting."""


def _write_without_waiting(sock: socket.socket, data: bytes) -> None:
    """Write all of `data` now, or raise _ClientNotReading (after a partial write, perhaps: the
    connection is then unusable and is dropped)."""
    view = memoryview(data)
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    while view:
        if not poller.poll(0):
            raise _ClientNotReading("the client is not reading")
        view = view[sock.send(view) :]


class _LiveSocket:
    def __init__(self, connection_id: str, sock: socket.socket, protocol: ServerProtocol, source_ip: str) -> None:
        self.connection_id = connection_id
        self.sock = sock
        self.protocol = protocol
        self.source_ip = source_ip
        self.connected_at = time.time()
        self.last_active_at = self.connected_at
        self.lock = threading.Lock()

    def flush(self) -> None:
        """Write what the protocol has queued; call with the lock held. OSError: drop the client."""
        for data in self.protocol.data_to_send():
            if data:
                _write_without_waiting(self.sock, data)

    def send_text(self, data: bytes) -> bool:
        with self.lock:
            if self.protocol.state is not State.OPEN:
                return False
            try:
                self.protocol.send_text(data)
                self.flush()
            except OSError:
                self._drop()
                return False
            self.last_active_at = time.time()
            return True

    def _drop(self) -> None:
        """End the connection without a close frame (its stream may hold half a frame); the
        read loop then ends and the disconnect follows."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        with self.lock:
            try:
                if self.protocol.state is State.OPEN:
                    self.protocol.send_close(code, reason)
                    self.flush()
            except OSError:
                pass
        self._drop()


class LiveGateway:
    """The WebSocket side of the local API Gateway, for one function serving every route."""

    def __init__(self, function: LocalFunction, *, stage: str = "local", domain: str = "127.0.0.1") -> None:
        self._function = function
        self._stage = stage
        self._domain = domain
        self._sockets: dict[str, _LiveSocket] = {}
        self._lock = threading.Lock()

    # -- what the HTTP server hands over ------------------------------------------------------

    def handles(self, handler: BaseHTTPRequestHandler) -> bool:
        """Serve the request if it is ours (the WebSocket or the management API); False otherwise."""
        path = urlsplit(handler.path).path
        if path == LIVE_PATH:
            self._serve_socket(handler)
            return True
        if path.startswith(CONNECTIONS_PREFIX):
            self._serve_management(handler, unquote(path[len(CONNECTIONS_PREFIX) :]))
            return True
        return False

    def open_connections(self) -> list[str]:
        with self._lock:
            return list(self._sockets)

    def close_all(self) -> None:
        with self._lock:
            sockets = list(self._sockets.values())
        for live in sockets:
            live.close()

    # -- the management API -------------------------------------------------------------------

    def post(self, connection_id: str, data: bytes) -> bool:
        live = self._find(connection_id)
        return live is not None and live.send_text(data)

    def _find(self, connection_id: str) -> _LiveSocket | None:
        with self._lock:
            return self._sockets.get(connection_id)

    def _serve_management(self, handler: BaseHTTPRequestHandler, connection_id: str) -> None:
        """The caller has refused a Content-Length that reads two ways; a chunked body is refused here."""
        handler.close_connection = False
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            _answer(handler, 411, {"message": "send a Content-Length"}, close=True)
            return
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_MESSAGE_BYTES:
            _answer(handler, 413, {"message": "Payload too large"}, close=True)
            return
        data = handler.rfile.read(length) if length else b""
        live = self._find(connection_id)
        if live is None:
            _answer(handler, 410, {"message": "Gone"}, error_type="GoneException")
            return
        if handler.command == "POST":
            if live.send_text(data):
                _answer(handler, 200, None)
            else:
                _answer(handler, 410, {"message": "Gone"}, error_type="GoneException")
        elif handler.command == "DELETE":
            live.close()
            _answer(handler, 204, None)
        elif handler.command == "GET":
            _answer(
                handler,
                200,
                {
                    "connectedAt": _iso(live.connected_at),
                    "lastActiveAt": _iso(live.last_active_at),
                    "identity": {"sourceIp": live.source_ip},
                },
            )
        else:
            _answer(handler, 405, {"message": "Method not allowed"})

    # -- the socket -----------------------------------------------------------------------------

    def _serve_socket(self, handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        sock: socket.socket = handler.connection
        protocol = ServerProtocol(max_size=MAX_MESSAGE_BYTES)
        # http.server has read the request already; the protocol parses it again from its bytes,
        # which also moves its parser on to frames.
        head = "".join(f"{name}: {value}\r\n" for name, value in handler.headers.items())
        protocol.receive_data(f"{handler.requestline}\r\n{head}\r\n".encode("latin-1"))
        requests = [event for event in protocol.events_received() if isinstance(event, Request)]
        if not requests:
            _answer(handler, 400, {"message": "not a WebSocket upgrade request"}, close=True)
            return
        response = protocol.accept(requests[0])
        if response.status_code != 101:  # not a WebSocket handshake: websockets' own refusal
            protocol.send_response(response)
            _write_all(sock, protocol)
            return
        connection_id = _connection_id()
        source_ip = handler.client_address[0]
        connect = self._event("$connect", "CONNECT", connection_id, source_ip, headers=dict(handler.headers.items()))
        status = self._invoke_status(connect)
        if not 200 <= status < 300:
            body = json.dumps({"message": _refusal_text(status)}).encode()
            refusal = protocol.reject(status, body.decode())
            protocol.send_response(refusal)
            _write_all(sock, protocol)
            return
        live = _LiveSocket(connection_id, sock, protocol, source_ip)
        with self._lock:
            self._sockets[connection_id] = live
        try:
            with live.lock:
                protocol.send_response(response)
                live.flush()
            self._read_loop(handler, live)
        finally:
            with self._lock:
                self._sockets.pop(connection_id, None)
            live.close()
            self._invoke_status(self._event("$disconnect", "DISCONNECT", connection_id, source_ip))

    def _read_loop(self, handler: BaseHTTPRequestHandler, live: _LiveSocket) -> None:
        sock = live.sock
        sock.settimeout(IDLE_TIMEOUT_SECONDS)
        message = bytearray()  # the fragments of the message being received, joined as they come
        message_opcode: Opcode | None = None
        while True:
            try:
                data = handler.rfile.read1(65536)
            except TimeoutError:
                live.close(CLOSE_GOING_AWAY, "idle timeout")
                return
            except OSError:
                return
            with live.lock:
                if data:
                    live.protocol.receive_data(data)
                else:
                    live.protocol.receive_eof()
                events = live.protocol.events_received()
                try:
                    live.flush()
                except OSError:
                    return
                state = live.protocol.state
            for event in events:
                if not isinstance(event, Frame):
                    continue
                if event.opcode in (Opcode.TEXT, Opcode.BINARY):
                    message, message_opcode = bytearray(event.data), event.opcode
                elif event.opcode is Opcode.CONT and message_opcode is not None:
                    message += event.data
                else:
                    continue
                if len(message) > MAX_MESSAGE_BYTES:
                    live.close(CLOSE_TOO_BIG, "message too big")
                    return
                if event.fin and message_opcode is not None:
                    self._message(live, bytes(message), binary=message_opcode is Opcode.BINARY)
                    message, message_opcode = bytearray(), None
            if not data or state is State.CLOSED or live.protocol.close_expected():
                return

    def _message(self, live: _LiveSocket, payload: bytes, *, binary: bool) -> None:
        live.last_active_at = time.time()
        route = "$default"
        body: str
        if binary:
            body = base64.b64encode(payload).decode()
        else:
            body = payload.decode(errors="replace")
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):  # deep nesting: the function answers it as not JSON
                document = None
            if isinstance(document, dict) and document.get("action") == "subscribe":
                route = "subscribe"
        event = self._event(route, "MESSAGE", live.connection_id, live.source_ip, body=body, binary=binary)
        self._invoke_status(event)

    # -- invocations -----------------------------------------------------------------------------

    def _event(
        self,
        route: str,
        event_type: str,
        connection_id: str,
        source_ip: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        binary: bool = False,
    ) -> dict[str, Any]:
        now = time.time()
        request_id = str(uuid.uuid4())
        event: dict[str, Any] = {
            "requestContext": {
                "routeKey": route,
                "eventType": event_type,
                "messageDirection": "IN",
                "stage": self._stage,
                "connectionId": connection_id,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": int(now * 1000),
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "domainName": self._domain,
                "apiId": "local",
                "identity": {"sourceIp": source_ip},
            },
            "isBase64Encoded": binary,
        }
        if event_type == "MESSAGE":
            event["requestContext"]["messageId"] = request_id
            event["body"] = body
        if headers is not None:
            event["headers"] = dict(headers)
        return event

    def _invoke_status(self, event: dict[str, Any]) -> int:
        route = event["requestContext"]["routeKey"]
        try:
            result = self._function.invoke(event, caller_limit_seconds=INVOCATION_LIMIT_SECONDS)
        except Exception as failure:
            logger.warning("live route %s failed: %s: %s", route, type(failure).__name__, failure)
            return 500
        status = result.get("statusCode") if isinstance(result, dict) else None
        return status if isinstance(status, int) else 200


def _refusal_text(status: int) -> str:
    return "Too many connections from this address" if status == 429 else "Connection refused"


def _write_all(sock: socket.socket, protocol: ServerProtocol) -> None:
    try:
        for data in protocol.data_to_send():
            if data:
                sock.sendall(data)
    except OSError:
        pass


def _answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    document: Any,
    *,
    error_type: str | None = None,
    close: bool = False,
) -> None:
    payload = b"" if document is None else json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    if error_type:
        handler.send_header("x-amzn-ErrorType", error_type)
    if close:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.send_header("Content-Length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
