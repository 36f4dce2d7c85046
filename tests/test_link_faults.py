"""Nothing lost, nothing hangs: the fault-injecting proxy, the host decoders under damage, and a QEMU
session over a damaged line that must give exactly the clean run's answers and instruction counts."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import needs_qemu, slow, tiny_model
from workbench.errors import DeviceError, WorkbenchError
from workbench.link.faulty import ByteMangler, FaultSpec, FaultyLink
from workbench.link.protocol import (P, BadFrame, FrameReader, Hello, cobs_decode, decode_frame, encode_frame,
                                     parse_result, parse_stats)


# -- the spec and the mangler ------------------------------------------------------------------------
def test_spec_parses_rates_seed_and_direction():
    s = FaultSpec.parse("drop=0.01, flip=0.02,dup=0.03,delay=0.001,delay_ms=5,seed=7,to=device")
    assert (s.drop, s.flip, s.dup, s.delay, s.delay_ms, s.seed, s.to) == (0.01, 0.02, 0.03, 0.001, 5.0, 7, "device")
    assert FaultSpec.parse(str(s)) == s


@pytest.mark.parametrize("text, words", [
    ("drop=2", ["drop=2.0", "between 0 and 1"]),
    ("drop=-0.1", ["between 0 and 1"]),
    ("loss=0.1", ["'loss=0.1'", "key=value"]),
    ("drop", ["'drop'", "key=value"]),
    ("flip=lots", ["flip must be a number", "'lots'"]),
    ("seed=1.5", ["seed must be an integer"]),
    ("to=sideways", ["to must be one of both, device, host"]),
    ("delay_ms=99999", ["delay_ms=99999"]),
])
def test_bad_specs_are_one_line_errors(text, words):
    with pytest.raises(WorkbenchError) as e:
        FaultSpec.parse(text)
    assert "\n" not in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_mangler_is_the_identity_without_faults():
    m = ByteMangler(FaultSpec(), "device")
    data = bytes(range(256)) * 4
    assert b"".join(p for _, p in m.mangle(data)) == data


def test_mangler_is_repeatable_and_damages_at_the_given_rates():
    spec = FaultSpec.parse("drop=0.01,flip=0.01,dup=0.01,seed=3")
    data = bytes(200_000)
    a = b"".join(p for _, p in ByteMangler(spec, "device").mangle(data))
    m = ByteMangler(spec, "device")
    assert b"".join(p for _, p in m.mangle(data)) == a
    st_ = m.stats
    for n in (st_.dropped, st_.flipped, st_.duplicated):
        assert 1700 < n < 2300            # 1 % of 200,000 = 2,000; 6 sigma is ~270
    assert len(a) == len(data) - st_.dropped + st_.duplicated
    flips_out = sum(1 for b in a if b)                # zeros in: every non-zero byte out is a flip ...
    assert st_.flipped <= flips_out <= 2 * st_.flipped  # ... sent twice when also duplicated
    # The other direction draws from its own generator.
    assert b"".join(p for _, p in ByteMangler(spec, "host").mangle(data)) != a
    # ... and only the chosen direction is damaged.
    one_way = FaultSpec.parse("drop=0.5,to=host")
    assert b"".join(p for _, p in ByteMangler(one_way, "device").mangle(data[:1000])) == data[:1000]


def test_mangler_delays_stall_the_stream():
    pieces = ByteMangler(FaultSpec.parse("delay=1,delay_ms=3"), "host").mangle(b"ab")
    assert [p for p in pieces if p[0]] == [(0.003, b""), (0.003, b"")]
    assert b"".join(p for _, p in pieces) == b"ab"


def test_proxy_forwards_both_ways_and_counts():
    """A real TCP echo server behind the proxy: clean spec = exact bytes both ways."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def echo():
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(4096):
                conn.sendall(data)

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    with FaultyLink(server.getsockname(), FaultSpec()) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as c:
            msg = bytes(range(256)) * 40
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += c.recv(65536)
        assert got == msg
        assert proxy.stats.to_device.bytes_out == proxy.stats.to_host.bytes_in == len(msg)
    server.close()


def test_proxy_refuses_a_busy_port_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        with pytest.raises(WorkbenchError, match=r"link proxy cannot listen on 127\.0\.0\.1:\d+"):
            FaultyLink(("127.0.0.1", 1), FaultSpec(), listen_port=s.getsockname()[1])


# -- host decoders: property tests --------------------------------------------------------------------
frames = st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=P.MAX_PAYLOAD)),
                  min_size=1, max_size=5)


@given(frames, st.randoms(use_true_random=False), st.floats(0.0, 0.2))
@settings(max_examples=120)
def test_reader_never_yields_a_frame_that_was_not_sent(sent, rnd, rate):
    """Damage the byte stream at random; every decoded frame is one of the sent frames, and a clean
    frame after the damage is always decoded (resynchronisation)."""
    wire = bytearray()
    for ftype, seq, payload in sent:
        wire += b"\x00" + encode_frame(ftype, seq, payload)
    damaged = bytearray()
    for b in wire:
        r = rnd.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            b ^= 1 << rnd.randrange(8)
        damaged.append(b)
        if rnd.random() < rate / 3:
            damaged.append(b)
    reader = FrameReader()
    marker = (0x85, 0x55, b"resync marker")
    got = reader.feed(bytes(damaged) + b"\x00" + encode_frame(*marker))
    originals = {(t, s, p) for t, s, p in sent} | {marker}
    for f in got:
        assert (f.type, f.seq, f.payload) in originals
    assert (got[-1].type, got[-1].seq, got[-1].payload) == marker


@given(st.binary(max_size=400))
@settings(max_examples=500)
def test_decoders_reject_garbage_only_with_their_own_errors(data):
    assert cobs_decode(data) is None or isinstance(cobs_decode(data), bytes)
    for parse in (decode_frame, Hello.parse, parse_result, parse_stats):
        try:
            parse(data)
        except BadFrame:
            pass


@given(st.binary(min_size=1, max_size=64), st.integers(0, 7), st.integers(0, 255))
def test_a_single_flipped_bit_is_always_caught(payload, bit, at):
    frame = bytearray(encode_frame(0x83, 9, payload)[:-1])
    frame[at % len(frame)] ^= 1 << bit
    reader = FrameReader()
    assert reader.feed(b"\x00" + bytes(frame) + b"\x00") == []


def test_reader_drops_undelimited_garbage_but_keeps_going():
    reader = FrameReader()
    assert reader.feed(b"\x55" * (5 * P.MAX_ENCODED)) == []
    assert reader.bad_frames >= 1
    f = reader.feed(b"\x00" + encode_frame(0x85, 1, b"ok"))
    assert [(x.seq, x.payload) for x in f] == [(1, b"ok")]


# -- the client against the real firmware under QEMU -----------------------------------------------------
@pytest.fixture(scope="module")
def built():
    from workbench.boards import load_board
    from workbench.models import modelfile
    from workbench.pipeline import export_and_build

    mf = modelfile.from_module(tiny_model(cells=("gru", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    return export_and_build(mf, load_board("mps2-an386"))


def _session(built, inputs, spec=None, timeout=None):
    from workbench.boards import load_board
    from workbench.pipeline import run_on_qemu
    from workbench.targets import qemu_plugin

    session, target, _ = run_on_qemu(load_board("mps2-an386"), built, inputs, fault_link=spec,
                                     link_timeout=timeout)
    return session, qemu_plugin.read_counts(target.counts_path)


@needs_qemu
@slow
def test_damaged_link_gives_the_clean_answers_exactly_once(built, basicmotions):
    """1 % drop + 1 % flip + 1 % duplicate in both directions: same logits, same instruction count for
    every full window and every brick, one computation per request (device counters)."""
    x = basicmotions[1].x[:3]
    clean, clean_counts = _session(built, x)
    spec = FaultSpec.parse("drop=0.01,flip=0.01,dup=0.01,seed=11")
    noisy, noisy_counts = _session(built, x, spec)
    assert noisy.link["retransmits"] > 50 and noisy.link["fault_injection"]["to_host"]["flipped"] > 10
    for a, b in zip(clean.windows, noisy.windows):
        assert a.logits.tobytes() == b.logits.tobytes()
        assert a.stream_logits.tobytes() == b.stream_logits.tobytes()
    assert noisy_counts == clean_counts and len(clean_counts) == 3 * 11
    assert (noisy.stats["infers"], noisy.stats["streams"]) == (3, 30)
    assert noisy.stats["duplicates"] > 0            # retransmissions were answered from the cache


@needs_qemu
def test_hopeless_link_fails_clearly_and_reaps_qemu(built, basicmotions, qemu_targets):
    from workbench.targets.qemu import port_is_free

    spec = FaultSpec.parse("drop=0.2,flip=0.2,dup=0.2,seed=1")
    with pytest.raises(DeviceError) as e:
        _session(built, basicmotions[1].x[:2], spec, timeout=3.0)
    msg = str(e.value)
    assert "\n" not in msg and "no valid answer to HELLO" in msg and "corrupt frames" in msg
    assert e.value.exit_code != 0
    (target,) = qemu_targets
    assert target.proc.poll() is not None and port_is_free(target.port)


def test_stats_and_results_must_have_their_size():
    with pytest.raises(BadFrame):
        parse_result(b"\x01\x00")
    with pytest.raises(BadFrame):
        parse_stats(struct.pack("<4I", 1, 2, 3, 4))
