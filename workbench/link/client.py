"""A request/response client for protocol v1 over any pyserial port (real UART or socket://).

What it promises: every request is answered exactly once, or a ``DeviceError`` names the request,
its context (window, brick) and what came back instead.

- Every request gets a fresh sequence number. Its retransmissions are byte-identical (same seq), and
  the device answers a repeated seq from its cache, so a request is never computed twice.
- Each frame goes out behind an extra 0x00: if the previous frame lost its delimiter on the way, the
  device still starts this one clean (resynchronisation; the device skips empty frames).
- Retransmit at once on a NAK or on a corrupt frame from the device (its answer was damaged: the
  cached copy comes back), otherwise when the line has been quiet for an adaptive timeout (per request
  type, Jacobson's smoothed round trip, Karn's rule, doubled after each quiet attempt).
- Never flood the device: each frame sent draws one frame back (answer, cached copy or NAK), so the
  client counts frames in flight and retransmits at once only when none is still on its way; until
  then a NAK may belong to an older copy, and every extra copy queued in front of the device delays
  its answers (QEMU hands the guest ~20 KiB/s).
- Answers with another seq (late copies of earlier answers) are dropped: duplicate suppression.
- Bounds: at most ``attempts`` sends, and a valid answer within ``timeout`` seconds of the first send,
  or a ``DeviceError``. A device process that dies (``alive()`` false) or closes the line fails at once.
- Input uploads (WRITE, idempotent) shrink their chunks when the link damages frames and grow them
  again while it does not, so a noisy link still gets data through; a chunk that keeps failing is
  abandoned for a smaller one under a new seq (safe: writing the same bytes twice changes nothing).
- ``max_frame``: a line that cannot carry large frames (a J-Link OB's virtual COM port drops USB
  transfers over 64 bytes) gets WRITE chunks small enough that every frame sent, with its leading
  and trailing 0x00, fits; the chunks are still acknowledged one by one.
- A fault frame from the device (``WB_RSP_FAULT``: its core faulted, it reboots) ends the request at
  once with a ``DeviceFault`` carrying the registers.
"""

from __future__ import annotations

import os
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import serial

from workbench.errors import DeviceError
from workbench.link.protocol import (ERROR_NAMES, P, BadFrame, FrameReader, Hello, Result, encode_frame,
                                     parse_fault, parse_result, parse_stages, parse_stats)

REQUEST_NAMES = {P.REQ_HELLO: "HELLO", P.REQ_WRITE: "WRITE", P.REQ_INFER: "INFER", P.REQ_STREAM: "STREAM",
                 P.REQ_STATS: "STATS", P.REQ_RESET: "RESET", P.REQ_EXIT: "EXIT"}
DEFAULT_TIMEOUT = 10.0     # seconds without a valid answer before a request fails
DEFAULT_ATTEMPTS = 100     # sends of one request (a 66-byte HELLO answer at 3 % byte damage needs ~10)
MIN_RTO, MAX_RTO, INITIAL_RTO = 0.02, 2.0, 1.0   # seconds; INITIAL_RTO covers QEMU translating new code
MIN_CHUNK = 16             # smallest WRITE chunk (bytes of input) a noisy link is cut down to
SPLIT_AFTER = 3            # sends of one WRITE chunk before it is abandoned for a smaller one


class NoAnswer(DeviceError):
    """A request ran out of attempts or time; ``silent``: not a byte came back meanwhile."""

    def __init__(self, message: str, silent: bool):
        super().__init__(message)
        self.silent = silent


class LinkClosed(DeviceError):
    """The device side went away (process exited, socket closed)."""


class DeviceFault(DeviceError):
    """The device reported a fault of its core (a WB_RSP_FAULT frame): ``fault`` holds its registers."""

    def __init__(self, fault: dict):
        self.fault = fault
        super().__init__("device fault: " + " ".join(f"{k}=0x{v:08x}" for k, v in fault.items()))


FRAME_OVERHEAD = 2 + P.FRAME_HEADER + P.FRAME_CRC + 1    # the 0x00 before, COBS code byte, delimiter


def largest_chunk(max_frame: int | None, device_max_payload: int) -> int:
    """Bytes of input one WRITE may carry: within the device's buffer and, on a line that limits
    frames to ``max_frame`` bytes, small enough that the whole frame sent fits."""
    largest = device_max_payload - 4                      # the payload starts with the offset (u32)
    if max_frame:
        fit = max_frame - FRAME_OVERHEAD - 4
        while fit > 0 and fit + 4 + P.FRAME_HEADER + P.FRAME_CRC > 253:   # COBS adds a byte per 254
            fit -= 1
        largest = min(largest, fit)
    if largest < 1:
        raise ValueError(f"a frame limit of {max_frame} bytes leaves no room for input")
    return largest


@dataclass
class LinkCounters:
    requests: int = 0
    retransmits: int = 0
    naks: int = 0
    corrupt_frames: int = 0
    stale_answers: int = 0
    timeouts: int = 0
    chunk_splits: int = 0
    bytes_out: int = 0
    bytes_in: int = 0
    frames_in: int = 0          # valid frames received (answers, NAKs, stale copies): the line works
    events: list[str] = field(default_factory=list)


@dataclass
class _RttEstimate:
    srtt: float | None = None
    rttvar: float = 0.0

    def sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def rto(self, backoff: int) -> float:
        base = INITIAL_RTO if self.srtt is None else self.srtt + 4 * self.rttvar + 0.01
        return min(MAX_RTO, max(MIN_RTO, base) * (2 ** min(backoff, 8)))


class DeviceLink:
    def __init__(self, port, timeout: float = DEFAULT_TIMEOUT, alive=None, attempts: int = DEFAULT_ATTEMPTS,
                 max_frame: int | None = None):
        """``port``: an open pyserial object; ``alive()``: optional check that the device process
        still runs (an emulator), so a dead target fails at once; ``attempts``: sends of one request
        before the link gives up; ``max_frame``: the largest frame in bytes the line carries intact."""
        self.port = port
        self.max_frame = max_frame
        self.timeout = timeout
        self.attempts = attempts
        self.alive = alive
        self.reader = FrameReader()
        self.seq = 0
        self.counters = LinkCounters()
        self.hello_info: Hello | None = None
        self._rtt: dict[int, _RttEstimate] = {}
        self._chunk: int | None = None      # current WRITE chunk size (bytes of input)
        self._in_flight = 0                 # frames sent whose answer (or NAK) has not come back
        self._read_timeout = None
        # WORKBENCH_LINK_TRACE=FILE: the last exchanges are written there when a request fails.
        self._trace_path = os.environ.get("WORKBENCH_LINK_TRACE")
        self._trace: deque[str] = deque(maxlen=400)
        self._t0 = time.monotonic()

    def _note(self, text: str) -> None:
        if self._trace_path:
            self._trace.append(f"{time.monotonic() - self._t0:9.4f} {text}")

    def _fail(self, exc: DeviceError) -> DeviceError:
        if self._trace_path:
            with open(self._trace_path, "a") as f:
                f.write("\n".join(self._trace) + f"\nFAILED: {exc}\n")
        return exc

    # -- transport -----------------------------------------------------------------------------------
    def _send(self, frame: bytes) -> None:
        try:
            self.port.write(frame)
        except serial.SerialTimeoutException:
            raise DeviceError(f"serial write stalled for {getattr(self.port, 'write_timeout', '?')} s: the USB "
                              "serial link is stuck (unplug and replug the board)") from None
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"serial link closed while sending ({exc})") from None
        self.counters.bytes_out += len(frame)
        self._in_flight += 1

    def _read(self, wait: float) -> bytes:
        wait = min(0.05, max(0.001, wait))
        if self._read_timeout != wait:
            self.port.timeout = self._read_timeout = wait
        try:
            return self.port.read(self.port.in_waiting or 1)
        except (serial.SerialException, OSError) as exc:
            raise LinkClosed(f"serial link closed by the device side ({exc})") from None

    def request(self, rtype: int, payload: bytes = b"", timeout: float | None = None, context: str = "",
                attempts: int | None = None, deadline: float | None = None) -> bytes:
        """Send one request until its answer arrives; return the answer's payload."""
        self.seq = (self.seq + 1) & 0xFF
        frame = b"\x00" + encode_frame(rtype, self.seq, payload)
        name = REQUEST_NAMES.get(rtype, f"0x{rtype:02x}")
        attempts = attempts or self.attempts
        start = time.monotonic()
        if deadline is None:
            deadline = start + (self.timeout if timeout is None else timeout)
        rtt = self._rtt.setdefault(rtype, _RttEstimate())
        self.counters.requests += 1
        seen: Counter = Counter()
        heard = self.counters.bytes_in
        silent_sends = 0
        sends = 0
        while sends < attempts and time.monotonic() < deadline:
            if sends:
                self.counters.retransmits += 1
            self._send(frame)
            self._note(f"send {name} seq={self.seq} len={len(payload)} try={sends + 1}")
            sends += 1
            sent_at = time.monotonic()
            outcome, answer = self._await(rtype, name, context, rtt.rto(silent_sends), deadline, seen)
            if outcome == "answer":
                if sends == 1:
                    rtt.sample(time.monotonic() - sent_at)    # Karn: only unambiguous round trips
                return answer
            silent_sends = silent_sends + 1 if outcome == "timeout" else 0
        silent = self.counters.bytes_in == heard          # not a byte back while this request waited
        raise self._fail(NoAnswer(self._no_answer(name, context, sends, time.monotonic() - start, silent, seen),
                                  silent=silent))

    def _no_answer(self, name: str, context: str, sends: int, waited: float, silent: bool, seen: Counter) -> str:
        """Why a request got no answer, told apart by what the line carried since it opened: not one
        byte (a cut line, a device that never started), bytes but never a valid frame (a garbled line),
        or silence after a good start (a device that hangs)."""
        where = f" ({context})" if context else ""
        c = self.counters
        if c.bytes_in == 0:
            note = "" if self.alive is None else " (the emulator is running: the line to it is cut, or the firmware " \
                                                 "never started its runner)"
            return f"not one byte from the device in {waited:.1f}s: no answer to {name}{where} after {sends} " \
                   f"send(s){note}"
        if silent and c.frames_in:
            note = "" if self.alive is None else "; the emulator is still running: the firmware hangs or is stuck"
            return f"device silent for {waited:.1f}s: no answer to {name}{where} after {sends} send(s) (after " \
                   f"{c.frames_in} good frame(s) before{note})"
        if silent:
            return f"device silent for {waited:.1f}s: no answer to {name}{where} after {sends} send(s); the " \
                   f"{c.bytes_in} bytes it sent before held no valid frame (a garbled line)"
        what = ", ".join(f"{n} {k}" for k, n in seen.most_common()) or "nothing usable"
        garbled = "" if c.frames_in else f"; not one valid frame in {c.bytes_in} bytes from the device: the line " \
                                         "garbles what it carries"
        return f"no valid answer to {name}{where} after {sends} sends in {waited:.1f}s; seen: {what}{garbled}"

    def _await(self, rtype: int, name: str, context: str, rto: float, deadline: float,
               seen: Counter) -> tuple[str, bytes | None]:
        """Wait for the current seq's answer. Returns ("answer", payload), or the reason to send
        again: "nak", "corrupt" (damage seen and nothing else in flight) or "timeout" (the line was
        quiet for ``rto`` seconds, or the request's deadline passed)."""
        last_heard = time.monotonic()
        retry = None                         # damage seen: send again once nothing else is in flight
        while True:
            now = time.monotonic()
            until = min(deadline, last_heard + rto)
            if now >= until:
                self.counters.timeouts += 1
                seen["timeouts"] += 1
                self._note("timeout")
                self._in_flight = 0          # whatever was on its way is lost
                return "timeout", None
            data = self._read(until - now)
            if not data:
                if self.alive is not None and not self.alive():
                    where = f" ({context})" if context else ""
                    raise LinkClosed(f"the device stopped while {name}{where} was outstanding")
                continue
            self.counters.bytes_in += len(data)
            last_heard = time.monotonic()
            bad_before = self.reader.bad_frames
            frames = self.reader.feed(data)
            bad = self.reader.bad_frames - bad_before
            self.counters.frames_in += len(frames)
            self._in_flight = max(0, self._in_flight - len(frames) - bad)   # each one answers a send
            if self._trace_path:
                self._note(f"recv {len(data)} bytes: " + " ".join(f"[{f.type:02x} seq={f.seq} {f.payload[:6].hex()}]"
                                                                   for f in frames)
                           + f" bad={bad} in_flight={self._in_flight}")
            for f in frames:
                if f.type == P.RSP_FAULT:
                    raise self._fail(DeviceFault(parse_fault(f.payload)))
                if f.type == P.RSP_ERROR and f.payload[:1] and f.payload[0] in (P.ERR_CRC, P.ERR_FRAME):
                    self.counters.naks += 1
                    seen[f"NAKs ({ERROR_NAMES[f.payload[0]]})"] += 1
                    retry = "nak"
                    continue
                if f.seq != self.seq:
                    self.counters.stale_answers += 1
                    seen["stale answers"] += 1
                    continue
                if f.type == (rtype | P.RESPONSE):
                    return "answer", f.payload
                if f.type == P.RSP_ERROR:
                    code, _req, detail = struct.unpack_from("<BBH", f.payload.ljust(4, b"\0"))
                    where = f" ({context})" if context else ""
                    raise DeviceError(f"device refused {name}{where}: {ERROR_NAMES.get(code, code)} "
                                      f"(detail {detail})")
                seen[f"frames of unexpected type 0x{f.type:02x}"] += 1
                retry = "unexpected"
            if bad:
                self.counters.corrupt_frames += bad
                seen["corrupt frames"] += bad
                retry = retry or "corrupt"
            if retry and self._in_flight == 0:
                return retry, None

    # -- requests ------------------------------------------------------------------------------------
    def _parsed(self, parse, payload: bytes, what: str):
        """A well-framed answer whose content is wrong is a device (or build) fault, not a link one."""
        try:
            return parse(payload)
        except BadFrame as exc:
            raise DeviceError(f"device sent a malformed {what}: {exc}") from None

    def hello(self) -> Hello:
        self.hello_info = self._parsed(Hello.parse, self.request(P.REQ_HELLO), "HELLO answer")
        if self.hello_info.protocol_version != P.PROTO_VERSION:
            raise DeviceError(f"device speaks protocol v{self.hello_info.protocol_version}, "
                              f"host speaks v{P.PROTO_VERSION}")
        return self.hello_info

    def write_input(self, data: bytes, context: str = "") -> None:
        """Send ``data`` into the device's staging buffer in acknowledged chunks."""
        largest = largest_chunk(self.max_frame, self.hello_info.max_payload if self.hello_info else P.MAX_PAYLOAD)
        if self._chunk is None:
            self._chunk = largest
        off = 0
        deadline = time.monotonic() + self.timeout
        while off < len(data):
            size = min(self._chunk, largest, len(data) - off)
            part = data[off:off + size]
            splittable = size > MIN_CHUNK
            sends_before = self.counters.retransmits + self.counters.requests
            try:
                ack = self.request(P.REQ_WRITE, struct.pack("<I", off) + part, context=context,
                                   attempts=SPLIT_AFTER if splittable else None, deadline=deadline)
            except NoAnswer:
                if not splittable or time.monotonic() >= deadline:
                    raise
                self._chunk = max(MIN_CHUNK, size // 2)
                self.counters.chunk_splits += 1
                continue
            if ack[:6] != struct.pack("<IH", off, len(part)):
                raise DeviceError(f"device acknowledged the wrong chunk ({context or 'write'})")
            off += size
            deadline = time.monotonic() + self.timeout
            clean = self.counters.retransmits + self.counters.requests - sends_before == 1
            # AIMD: grow a little after a clean exchange, halve after a damaged one.
            self._chunk = min(largest, self._chunk + MIN_CHUNK) if clean else max(MIN_CHUNK, size // 2)

    def infer(self, window: bytes, context: str = "") -> Result:
        self.write_input(window, context)
        return self._parsed(parse_result, self.request(P.REQ_INFER, context=context), f"result ({context})")

    def stream(self, brick: bytes, context: str = "") -> Result:
        """Send the newest k steps and push them as a new brick."""
        self.write_input(brick, context)
        return self._parsed(parse_result, self.request(P.REQ_STREAM, context=context), f"result ({context})")

    def stream_staged(self, offset: int, context: str = "") -> Result:
        """Push the brick already in the staging buffer at ``offset`` bytes (no upload)."""
        return self._parsed(parse_result, self.request(P.REQ_STREAM, struct.pack("<I", offset), context=context),
                            f"result ({context})")

    def reset_stream(self, context: str = "") -> None:
        self.request(P.REQ_RESET, context=context)

    def stats(self) -> dict[str, int]:
        return self._parsed(parse_stats, self.request(P.REQ_STATS), "STATS answer")

    def stages(self, context: str = "") -> list[int]:
        """The last inference's counter ticks per stage (firmware with stage checkpoints, --breakdown)."""
        return self._parsed(parse_stages, self.request(P.REQ_STAGES, context=context), f"STAGES answer ({context})")

    def exit(self, code: int = 0) -> None:
        """Ask the device to stop. Its acknowledgement may be lost on a noisy link while the device
        has already stopped: a device that goes away after EXIT has done what was asked."""
        try:
            self.request(P.REQ_EXIT, bytes([code & 0xFF]))
        except LinkClosed:
            pass
