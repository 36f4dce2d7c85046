"""Protocol v1 framing: Python host side against the device's C codec built for this machine."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.link.protocol import (P, BadFrame, FrameReader, Hello, cobs_decode, cobs_encode, decode_frame,
                                     encode_frame)
from workbench.paths import firmware_dir


@pytest.fixture(scope="module")
def cframe(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("needs host gcc")
    out = tmp_path_factory.mktemp("cframe") / "libwbframe.so"
    src = firmware_dir() / "runner" / "wb_frame.c"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{firmware_dir() / 'runner'}", "-o", str(out), str(src)], check=True)
    lib = ctypes.CDLL(str(out))
    lib.wb_crc32.restype = ctypes.c_uint32
    lib.wb_crc32.argtypes = [ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
    for name in ("wb_cobs_encode", "wb_cobs_decode"):
        getattr(lib, name).restype = ctypes.c_size_t
        getattr(lib, name).argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.wb_frame_encode.restype = ctypes.c_size_t
    lib.wb_frame_encode.argtypes = [ctypes.c_uint8, ctypes.c_uint8, ctypes.c_char_p, ctypes.c_uint16,
                                    ctypes.c_char_p, ctypes.c_size_t]
    return lib


def test_constants_come_from_the_device_header():
    assert P.PROTO_VERSION == 1
    assert P.MAX_FRAME == P.FRAME_HEADER + P.MAX_PAYLOAD + P.FRAME_CRC
    assert P.REQ_STREAM == 0x04 and P.RSP_ERROR == 0xFF


@given(st.binary(max_size=600))
def test_cobs_roundtrip_has_no_zero(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_c_and_python_codecs_agree(cframe, data):
    assert cframe.wb_crc32(0, data, len(data)) == zlib.crc32(data)
    out = ctypes.create_string_buffer(len(data) + len(data) // 254 + 2)
    n = cframe.wb_cobs_encode(data, len(data), out, len(out))
    assert out.raw[:n] == cobs_encode(data)
    back = ctypes.create_string_buffer(len(data) + 1)
    m = cframe.wb_cobs_decode(out.raw[:n], n, back, len(back))
    assert back.raw[:m] == data


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=256))
@settings(max_examples=200)
def test_c_frame_encoder_matches_python(cframe, ftype, seq, payload):
    out = ctypes.create_string_buffer(P.MAX_ENCODED)
    n = cframe.wb_frame_encode(ftype, seq, payload, len(payload), out, len(out))
    assert out.raw[:n] == encode_frame(ftype, seq, payload)
    f = decode_frame(out.raw[:n - 1])
    assert (f.type, f.seq, f.payload) == (ftype, seq, payload)


@given(st.binary(max_size=200), st.binary(max_size=100))
def test_reader_resynchronises_after_garbage(garbage, payload):
    frame = encode_frame(0x83, 7, payload)
    reader = FrameReader()
    got = reader.feed(garbage + b"\x00" + frame)
    assert got[-1].payload == payload and got[-1].seq == 7


def test_corrupted_frame_is_rejected():
    frame = bytearray(encode_frame(0x83, 1, b"hello"))
    frame[3] ^= 0x40
    with pytest.raises(BadFrame):
        decode_frame(bytes(frame[:-1]))


def test_oversize_payload_is_refused():
    with pytest.raises(ValueError):
        encode_frame(1, 1, bytes(P.MAX_PAYLOAD + 1))


def test_hello_parse_rejects_short_answer():
    with pytest.raises(BadFrame):
        Hello.parse(b"\x01\x01")
