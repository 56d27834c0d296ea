"""A WebSocket client on a bare socket, for what a well-behaved library will not do: stop reading,
or split a message into many empty fragments."""

from __future__ import annotations

import base64
import os
import socket
import struct
from urllib.parse import urlsplit

OPCODE_CONT = 0x0
OPCODE_TEXT = 0x1


def client_frame(opcode: int, payload: bytes, *, fin: bool) -> bytes:
    """One masked client frame (payloads under 64 KiB)."""
    mask = os.urandom(4)
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    head += bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack("!H", length)
    return head + mask + bytes(byte ^ mask[n % 4] for n, byte in enumerate(payload))


def raw_upgrade(live_url: str, *, receive_buffer: int | None = None, timeout: float = 30.0) -> socket.socket:
    """A socket past the 101 answer to an upgrade on `live_url` (ws://127.0.0.1:port/path)."""
    target = urlsplit(live_url)
    assert target.hostname == "127.0.0.1" and target.port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(timeout)
    sock.connect((target.hostname, target.port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {target.path} HTTP/1.1\r\nHost: 127.0.0.1:{target.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(1)  # byte by byte: nothing after the head is consumed here
        assert chunk, f"closed during the handshake: {answer!r}"
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def read_server_frame(sock: socket.socket) -> tuple[int, bytes]:
    """The next frame from the server (unmasked): its opcode and payload."""
    first, second = _read_exactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", _read_exactly(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", _read_exactly(sock, 8))
    return first & 0x0F, _read_exactly(sock, length)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "the server closed the connection"
        data += chunk
    return data
