"""Protocol v1 constants and framing, host side.

The numbers are read from ``firmware/runner/wb_proto.h`` (the device's own header), so host and
device cannot drift apart. Framing mirrors ``firmware/runner/wb_frame.c``: COBS with a 0x00
delimiter around ``type:u8 | seq:u8 | len:u16 | payload | crc32:u32`` (zlib's CRC-32).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

from workbench.paths import firmware_dir


@lru_cache(maxsize=None)
def constants() -> SimpleNamespace:
    text = (firmware_dir() / "runner" / "wb_proto.h").read_text()
    values: dict[str, int] = {}
    for name, expr in re.findall(r"^#define[ \t]+(WB_\w+)[ \t]+([^\n]+?)[ \t]*(?:/\*[^\n]*)?$", text, re.M):
        expr = re.sub(r"(\d+)u\b", r"\1", expr)
        expr = re.sub(r"\b(WB_\w+)\b", lambda m: str(values[m.group(1)]), expr)
        if re.fullmatch(r"[\d\sxa-fA-F()+\-*/]+", expr):
            values[name] = int(eval(expr.replace("/", "//"), {"__builtins__": {}}))  # noqa: S307 (digits only)
    return SimpleNamespace(**{k[3:]: v for k, v in values.items()})


P = constants()
HEADER = struct.Struct("<BBH")


def cobs_encode(data: bytes) -> bytes:
    out = bytearray([0])
    code_at, code = 0, 1
    for b in data:
        if b:
            out.append(b)
            code += 1
        if not b or code == 0xFF:
            out[code_at] = code
            code, code_at = 1, len(out)
            out.append(0)
    out[code_at] = code
    return bytes(out)


def cobs_decode(data: bytes) -> bytes | None:
    """Inverse of cobs_encode; None for malformed input (a zero byte, a block past the end)."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > n:
            return None
        block = data[i:i + code - 1]
        if 0 in block:
            return None
        out += block
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    if len(payload) > P.MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the device buffer ({P.MAX_PAYLOAD})")
    raw = HEADER.pack(ftype, seq & 0xFF, len(payload)) + payload
    raw += struct.pack("<I", zlib.crc32(raw))
    return cobs_encode(raw) + b"\x00"


@dataclass
class Frame:
    type: int
    seq: int
    payload: bytes


class BadFrame(Exception):
    """A delimited chunk that is not a valid frame (COBS, length or CRC)."""


def decode_frame(chunk: bytes) -> Frame:
    """Decode the bytes between two delimiters."""
    raw = cobs_decode(chunk)
    if raw is None or len(raw) < P.FRAME_HEADER + P.FRAME_CRC:
        raise BadFrame("malformed COBS or short frame")
    ftype, seq, length = HEADER.unpack_from(raw)
    if length + P.FRAME_HEADER + P.FRAME_CRC != len(raw):
        raise BadFrame(f"length field {length} does not match {len(raw)} bytes")
    body, (crc,) = raw[:-4], struct.unpack("<I", raw[-4:])
    if zlib.crc32(body) != crc:
        raise BadFrame("CRC mismatch")
    return Frame(ftype, seq, bytes(body[P.FRAME_HEADER:]))


class FrameReader:
    """Splits a byte stream at 0x00 delimiters; resynchronises after garbage."""

    def __init__(self, max_encoded: int | None = None):
        self.buf = bytearray()
        self.max_encoded = max_encoded or 4 * P.MAX_ENCODED
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[Frame]:
        frames = []
        self.buf += data
        while True:
            end = self.buf.find(0)
            if end < 0:
                if len(self.buf) > self.max_encoded:   # garbage without delimiters: drop it
                    self.buf.clear()
                    self.bad_frames += 1
                return frames
            chunk = bytes(self.buf[:end])
            del self.buf[:end + 1]
            if not chunk:
                continue
            try:
                frames.append(decode_frame(chunk))
            except BadFrame:
                self.bad_frames += 1


# Element types and counter kinds by their wb_proto.h codes (WB_DTYPE_*, WB_COUNTER_*).
DTYPES = {P.DTYPE_F32: ("f32", "<f4", 4), P.DTYPE_I16: ("i16", "<i2", 2), P.DTYPE_I32: ("i32", "<i4", 4),
          P.DTYPE_I8: ("i8", "i1", 1)}
COUNTER_KINDS = {P.COUNTER_NONE: "none", P.COUNTER_SYSTICK: "systick", P.COUNTER_DWT: "dwt",
                 P.COUNTER_HOST_NS: "host-ns", P.COUNTER_OS: "os"}
NUMPY_DTYPES = {name: np_code for name, np_code, _ in DTYPES.values()}     # "f32" -> "<f4"
HELLO_FIXED = struct.Struct("<BBBBHHHHHBBBBBBIIII")     # the fields before the model hash (wb_proto.h)


@dataclass
class Hello:
    protocol_version: int
    kernel_version: str
    caps: int
    max_payload: int
    window: int
    input_dim: int
    k: int
    num_classes: int
    levels: int
    input_dtype: str
    output_dtype: str
    counter_kind: str
    counter_hz: int
    stack_size: int
    model_state_bytes: int
    staging_bytes: int
    model_hash: str
    board: str
    cores: int = 1            # cores an inference runs on (firmware/runner/wb_parallel.h)
    core0_bricks: int = 0     # two cores: bricks of a window computed on core 0

    @classmethod
    def parse(cls, p: bytes) -> "Hello":
        """Decode a HELLO answer; ``BadFrame`` for anything that is not one."""
        if len(p) < P.HELLO_BOARD or len(p) < P.HELLO_BOARD + p[P.HELLO_BOARD_LEN]:
            raise BadFrame(f"HELLO answer of {len(p)} bytes is too short")
        (ver, kmaj, kmin, caps, maxp, window, dim, k, ncls, levels, idt, odt, ck, cores, core0_bricks, hz, stack,
         state, staging) = HELLO_FIXED.unpack_from(p)
        if idt not in DTYPES or odt not in DTYPES:
            raise BadFrame(f"HELLO names unknown element types {idt}/{odt}")
        if maxp <= 4 or k == 0 or window == 0 or dim == 0 or ncls == 0:
            raise BadFrame(f"HELLO with impossible shapes (max payload {maxp}, T={window}, D={dim}, k={k}, "
                           f"classes {ncls})")
        if cores > 2 or (cores == 2 and not core0_bricks < window // k):
            raise BadFrame(f"HELLO with an impossible split: {cores} cores, {core0_bricks} of {window // k} bricks "
                           "on core 0")
        return cls(ver, f"{kmaj}.{kmin}", caps, maxp, window, dim, k, ncls, levels, DTYPES[idt][0],
                   DTYPES[odt][0], COUNTER_KINDS.get(ck, str(ck)), hz, stack, state, staging,
                   p[P.HELLO_HASH:P.HELLO_BOARD_LEN].hex(),
                   p[P.HELLO_BOARD:P.HELLO_BOARD + p[P.HELLO_BOARD_LEN]].decode(errors="replace"),
                   max(cores, 1), core0_bricks)

    def has(self, cap_name: str) -> bool:
        return bool(self.caps & getattr(P, "CAP_" + cap_name.upper()))


@dataclass
class Result:
    valid: bool
    ticks: int
    stack_bytes: int
    logits: bytes     # raw little-endian output elements, compared bit for bit


RESULT_HEADER = struct.Struct("<B3xII")


def parse_result(p: bytes) -> Result:
    if len(p) < RESULT_HEADER.size:
        raise BadFrame(f"result of {len(p)} bytes is shorter than its {RESULT_HEADER.size}-byte header")
    valid, ticks, stack = RESULT_HEADER.unpack_from(p)
    return Result(bool(valid), ticks, stack, bytes(p[RESULT_HEADER.size:]))


def parse_stages(p: bytes) -> list[int]:
    """A STAGES answer: the last inference's counter ticks per stage (firmware/runner/wb_stage.h)."""
    if len(p) < 4 or len(p) < 4 + 4 * p[0]:
        raise BadFrame(f"STAGES answer of {len(p)} bytes is too short")
    return list(struct.unpack_from(f"<{p[0]}I", p, 4))


STATS_FIELDS = ("frames_ok", "crc_errors", "frame_errors", "duplicates", "infers", "streams", "stack_peak",
                "stack_size")
# A two-core firmware adds its second core's stack (stack painting).
STATS_CORE1_FIELDS = ("core1_stack_peak", "core1_stack_size")


def parse_stats(p: bytes) -> dict[str, int]:
    if len(p) < 4 * len(STATS_FIELDS):
        raise BadFrame(f"STATS answer of {len(p)} bytes is too short")
    fields = STATS_FIELDS + (STATS_CORE1_FIELDS if len(p) >= 4 * (len(STATS_FIELDS) + len(STATS_CORE1_FIELDS)) else ())
    return dict(zip(fields, struct.unpack_from(f"<{len(fields)}I", p)))


FAULT_FIELDS = ("exc", "pc", "lr", "cfsr", "hfsr", "mmfar", "bfar", "reason")


def parse_fault(p: bytes) -> dict[str, int]:
    """A WB_RSP_FAULT payload: the registers a faulting device reports (missing words read as 0)."""
    words = struct.unpack_from(f"<{P.FAULT_WORDS}I", p.ljust(4 * P.FAULT_WORDS, b"\0"))
    return dict(zip(FAULT_FIELDS, words))


ERROR_NAMES = {1: "bad CRC", 2: "bad frame", 3: "unknown request", 4: "write out of range",
               5: "bad length", 6: "unsupported"}
