"""One graphql-transport-ws subscriber as a bare asyncio protocol, for the fan-out
benchmark (scripts/bench_api.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any


class RawSubscriber(asyncio.Protocol):
    """One graphql-transport-ws subscriber as a bare asyncio protocol: it reads frames in
    `data_received`, with no task to wake per frame. 500 subscribers share this process's
    core with the API; the `websockets` client's CPU per frame (a task switch, a queue)
    made the last of 500 frames wait behind the client itself, not the server."""

    def __init__(
        self,
        host: str,
        token: str,
        subscribe: dict[str, Any],
        expected: int,
        delivered: Any,
        errors: list[str],
        on_ack: Any,
    ) -> None:
        self.host, self.token, self.subscribe = host, token, subscribe
        self.expected, self.delivered, self.errors = expected, delivered, errors
        self.on_ack = on_ack
        self.buffer = b""
        self.upgraded = False
        self.done = asyncio.Event()
        self.seen = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /graphql HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )

    def send(self, message: dict[str, Any], opcode: int = 0x1) -> None:
        self.send_frame(json.dumps(message).encode(), opcode)

    def send_frame(self, data: bytes, opcode: int) -> None:
        # Client frames are masked; a zero mask key leaves the payload as it is.
        if len(data) < 126:
            head = bytes([0x80 | opcode, 0x80 | len(data)])
        else:
            head = bytes([0x80 | opcode, 0x80 | 126]) + len(data).to_bytes(2, "big")
        assert self.transport is not None
        self.transport.write(head + b"\0\0\0\0" + data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.fail(self.buffer[:200].decode(errors="replace"))
                return
            self.buffer, self.upgraded = self.buffer[end + 4 :], True
            self.send(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            )
        while (frame := self.next_frame()) is not None:
            self.on_frame(*frame)

    def next_frame(self) -> tuple[int, bytes] | None:
        buffer = self.buffer
        if len(buffer) < 2:
            return None
        opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(buffer[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(buffer[2:10], "big"), 10
        if len(buffer) < start + length:
            return None
        self.buffer = buffer[start + length :]
        return opcode, buffer[start : start + length]

    def on_frame(self, opcode: int, data: bytes) -> None:
        if opcode == 0x9:  # ping: answer it, as any client must
            self.send_frame(data, 0xA)
            return
        if opcode == 0x8:
            self.done.set()
            return
        if opcode != 0x1:
            return
        frame = json.loads(data)
        if frame["type"] == "connection_ack":
            self.send({"id": "1", "type": "subscribe", "payload": self.subscribe})
            self.on_ack()
        elif frame["type"] == "error" or frame.get("payload", {}).get("errors"):
            self.fail(str(frame.get("payload"))[:200])
        elif frame["type"] == "next":
            self.delivered(frame["payload"]["data"]["runEvents"]["payload"])
            self.seen += 1
            if self.seen == self.expected:
                self.done.set()
                assert self.transport is not None
                self.transport.close()

    def fail(self, reason: str) -> None:
        self.errors.append(reason)
        self.done.set()
        if self.transport is not None:
            self.transport.close()
