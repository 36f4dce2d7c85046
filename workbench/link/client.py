"""A request/response client for protocol v1 over any pyserial port (real UART or socket://).

Every request gets a fresh sequence number. On timeout or NAK the same frame (same seq) is sent
again, up to ``retries`` times; the device answers a repeated seq from its cache, so a request is
never computed twice. Answers with a stale seq are dropped.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

from workbench.errors import DeviceError
from workbench.link.protocol import (ERROR_NAMES, P, FrameReader, Hello, Result, encode_frame, parse_result,
                                     parse_stats)

REQUEST_NAMES = {P.REQ_HELLO: "HELLO", P.REQ_WRITE: "WRITE", P.REQ_INFER: "INFER", P.REQ_STREAM: "STREAM",
                 P.REQ_STATS: "STATS", P.REQ_RESET: "RESET", P.REQ_EXIT: "EXIT"}


@dataclass
class LinkCounters:
    requests: int = 0
    retransmits: int = 0
    naks: int = 0
    stale_answers: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    events: list[str] = field(default_factory=list)


class DeviceLink:
    def __init__(self, port, timeout: float = 2.0, retries: int = 5, alive=None):
        """``port``: an open pyserial object; ``alive()``: optional check that the device process
        still runs (an emulator), so a dead target fails fast instead of after every retry."""
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.alive = alive
        self.reader = FrameReader()
        self.seq = 0
        self.counters = LinkCounters()
        self.hello_info: Hello | None = None

    # -- transport -----------------------------------------------------------------------------------
    def request(self, rtype: int, payload: bytes = b"", timeout: float | None = None, context: str = "") -> bytes:
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_frame(rtype, self.seq, payload)
        name = REQUEST_NAMES.get(rtype, f"0x{rtype:02x}")
        timeout = self.timeout if timeout is None else timeout
        self.counters.requests += 1
        seen = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.counters.retransmits += 1
            self.port.write(frame)
            self.counters.bytes_out += len(frame)
            answer = self._await(rtype, timeout, seen)
            if answer is not None:
                return answer
        what = "; ".join(seen[-3:]) or "nothing"
        where = f" ({context})" if context else ""
        raise DeviceError(f"no valid answer to {name}{where} after {self.retries + 1} tries; last seen: {what}")

    def _await(self, rtype: int, timeout: float, seen: list[str]) -> bytes | None:
        """Wait for the answer to the current seq; None means send again (timeout or NAK)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.port.read(self.port.in_waiting or 1)
            if not data:
                if self.alive is not None and not self.alive():
                    raise DeviceError("the device stopped while a request was outstanding")
                continue
            self.counters.bytes_in += len(data)
            bad_before = self.reader.bad_frames
            for f in self.reader.feed(data):
                if f.type == P.RSP_ERROR and f.payload[:1] and f.payload[0] in (P.ERR_CRC, P.ERR_FRAME):
                    self.counters.naks += 1
                    seen.append(f"NAK ({ERROR_NAMES[f.payload[0]]})")
                    return None
                if f.seq != self.seq:
                    self.counters.stale_answers += 1
                    continue
                if f.type == (rtype | P.RESPONSE):
                    return f.payload
                if f.type == P.RSP_ERROR:
                    code, _req, detail = struct.unpack_from("<BBH", f.payload.ljust(4, b"\0"))
                    raise DeviceError(f"device refused {REQUEST_NAMES.get(rtype)}: "
                                      f"{ERROR_NAMES.get(code, code)} (detail {detail})")
                seen.append(f"unexpected frame type 0x{f.type:02x}")
            if self.reader.bad_frames > bad_before:
                seen.append("corrupt frame")
        seen.append(f"timeout after {timeout:.1f}s")
        return None

    # -- requests ------------------------------------------------------------------------------------
    def hello(self) -> Hello:
        self.hello_info = Hello.parse(self.request(P.REQ_HELLO))
        if self.hello_info.protocol_version != P.PROTO_VERSION:
            raise DeviceError(f"device speaks protocol v{self.hello_info.protocol_version}, "
                              f"host speaks v{P.PROTO_VERSION}")
        return self.hello_info

    def write_input(self, data: bytes, context: str = "") -> None:
        """Send ``data`` into the device's staging buffer in acknowledged chunks."""
        chunk = (self.hello_info.max_payload if self.hello_info else P.MAX_PAYLOAD) - 4
        for off in range(0, len(data), chunk):
            part = data[off:off + chunk]
            ack = self.request(P.REQ_WRITE, struct.pack("<I", off) + part, context=context)
            if ack[:6] != struct.pack("<IH", off, len(part)):
                raise DeviceError(f"device acknowledged the wrong chunk ({context or 'write'})")

    def infer(self, window: bytes, context: str = "") -> Result:
        self.write_input(window, context)
        return parse_result(self.request(P.REQ_INFER, context=context))

    def stream(self, brick: bytes, context: str = "") -> Result:
        """Send the newest k steps and push them as a new brick."""
        self.write_input(brick, context)
        return parse_result(self.request(P.REQ_STREAM, context=context))

    def stream_staged(self, offset: int, context: str = "") -> Result:
        """Push the brick already in the staging buffer at ``offset`` bytes (no upload)."""
        return parse_result(self.request(P.REQ_STREAM, struct.pack("<I", offset), context=context))

    def reset_stream(self) -> None:
        self.request(P.REQ_RESET)

    def stats(self) -> dict[str, int]:
        return parse_stats(self.request(P.REQ_STATS))

    def exit(self, code: int = 0) -> None:
        self.request(P.REQ_EXIT, bytes([code & 0xFF]))
