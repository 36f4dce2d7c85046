"""The float C kernel, compiled for this machine: every cell family against torch (tolerance), streams
against full windows (bit for bit), the matrix-vector core and its layout, the fused multiply-add, the
activations, and the exporter's buffer sizes against the C's."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from workbench.build.host import HostKernel, build_host_library
from workbench.export.c import export_c, f32_blocks
from workbench.models import ShaRNNStream
from workbench.models.modelfile import from_module

# Measured: the C logits of these random models (|logit| < 1.2, windows of 100 steps) differ from
# torch's by at most 2.4e-7 (minLSTM; 6e-8 to 1.2e-7 for the others). The activations are within
# 1.4e-7 of double precision (bench/activation_error.py) and torch rounds differently: 10x margin.
LOGIT_ATOL = 2.5e-6

FAMILIES = ["lstm", "gru", "fastgrnn", "mingru", "minlstm", "durnn"]
LOW_RANK = {"w_rank": 3, "u_rank": 4}
DURNN_2 = {"layers": 2, "short_size": 7, "long_activation": "tanh"}
CASES = ([("sharnn", (c, c), None) for c in FAMILIES]
         + [("sharnn", ("fastgrnn", "fastgrnn"), [LOW_RANK, {"w_rank": 2}]),
            ("sharnn", ("mingru", "minlstm"), [{"layers": 2}, {"layers": 3}]),
            ("sharnn", ("durnn", "gru"), [DURNN_2, {}]), ("sharnn", ("lstm", "durnn"), [{}, DURNN_2]),
            ("sharnn", ("minlstm", "fastgrnn"), None), ("sharnn", ("gru", "mingru"), None)]
         + [("rnn", (c,), None) for c in FAMILIES]
         + [("rnn", ("minlstm",), [{"layers": 2}]), ("rnn", ("fastgrnn",), [LOW_RANK])])


def host_kernel(model, tmp_path):
    mf = from_module(model)
    info = export_c(mf, tmp_path / "export")
    return HostKernel(build_host_library(info, tmp_path / "host"), info)


@pytest.mark.parametrize("family,cells,options", CASES,
                         ids=[f"{f}-{'-'.join(c)}" + ("-opts" if o else "") for f, c, o in CASES])
def test_every_family_follows_torch_and_streams_bit_exactly(tmp_path, family, cells, options):
    """Odd sizes (9/7 hidden, 5 inputs): padded rows, columns and blocks everywhere."""
    model = tiny_model(cells=cells, hidden=(9, 7), k=10, input_dim=5, num_classes=6, family=family, options=options)
    kernel = host_kernel(model, tmp_path)
    x = np.random.default_rng(1).normal(size=(6, 100, 5)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    full = np.stack([kernel.infer(w) for w in x])
    err = np.abs(full - ref).max()
    print(cells, options, f"max |C - torch| {err:.2e} (logits up to {np.abs(ref).max():.2f})")
    assert err <= LOGIT_ATOL * max(1.0, np.abs(ref).max())
    if family == "sharnn":
        for i in range(2):
            kernel.stream_reset()
            outs = [kernel.stream_push(x[i, b * 10:(b + 1) * 10]) for b in range(10)]
            assert all(o is None for o in outs[:-1])
            assert outs[-1].tobytes() == full[i].tobytes()


def test_sliding_stream_matches_host_stream_and_full_windows(tmp_path):
    """A long stream sliding by one brick: every window equals a full recomputation of that window."""
    model = tiny_model(cells=("lstm", "gru"), hidden=(8, 8), k=10)
    kernel = host_kernel(model, tmp_path)
    stream = np.random.default_rng(2).normal(size=(250, 6)).astype(np.float32)
    host_stream = ShaRNNStream(model)
    kernel.stream_reset()
    for b in range(25):
        brick = stream[b * 10:(b + 1) * 10]
        out = kernel.stream_push(brick)
        ref = host_stream.push(torch.from_numpy(brick[None]))
        if b < 9:
            assert out is None and ref is None
            continue
        window = stream[(b - 9) * 10:(b + 1) * 10]
        assert out.tobytes() == kernel.infer(window).tobytes()
        np.testing.assert_allclose(out, ref[0].numpy(), atol=LOGIT_ATOL)


def libm_fmaf():
    lib = ctypes.CDLL(ctypes.util.find_library("m"))
    lib.fmaf.restype = ctypes.c_float
    lib.fmaf.argtypes = [ctypes.c_float] * 3
    return lib.fmaf


def f32_function(kernel, name, args=1):
    fn = getattr(kernel.lib, name)
    fn.restype = ctypes.c_float
    fn.argtypes = [ctypes.c_float] * args
    return fn


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    return host_kernel(tiny_model(), tmp_path_factory.mktemp("float"))


def test_software_fma_rounds_once_like_libm(kernel):
    """The host build has no fused instruction (x86-64 without -mfma): its software fmaf must give
    glibc's correctly rounded fmaf bits, also on halfway cases, cancellation, tiny and huge values."""
    ours, ref = f32_function(kernel, "sharnn_fmaf", 3), libm_fmaf()
    rng = np.random.default_rng(5)
    a = rng.normal(size=6000).astype(np.float32)
    b = rng.normal(size=6000).astype(np.float32)
    c = rng.normal(size=6000).astype(np.float32)
    c[:2000] = -(a[:2000].astype(np.float64) * b[:2000]).astype(np.float32)     # near-cancellation
    e = 2.0 ** -24
    cases = list(zip(a, b, c)) + [(1 + e, 1 + e, -1.0), (1 + 2 * e, 1 - e, 0.0), (1.0, 2 ** -25, 1.0),
                                  (1.0, 2 ** -25 + 2 ** -48, 1.0), (3.0, 2 ** -26, -1.0), (1e-30, 1e-30, 1e-45),
                                  (3e38, 2.0, -3e38), (1e-20, -1e-20, 0.0), (-0.0, 1.0, 0.0), (2.0, 3.0, -6.0)]
    for x, y, z in cases:
        want, got = ref(x, y, z), ours(x, y, z)
        assert np.float32(got).tobytes() == np.float32(want).tobytes(), (x, y, z, got, want)
    assert np.isnan(ours(float("inf"), 0.0, 1.0)) and ours(float("inf"), 1.0, 1.0) == float("inf")


def test_activations_against_double_precision(kernel):
    """Largest error on a dense grid (bench/activation_error.py measures every float32 in [-40, 40]:
    sigmoid 9.2e-8, tanh 1.3e-7); exact values and limits; no NaN from a large input, NaN passes."""
    sig, tanh = f32_function(kernel, "sharnn_sigmoidf"), f32_function(kernel, "sharnn_tanhf")
    xs = np.concatenate([np.linspace(-42, 42, 20001), np.geomspace(1e-8, 1, 500), -np.geomspace(1e-8, 1, 500)])
    xs = xs.astype(np.float32).astype(np.float64)
    s = np.array([sig(v) for v in xs])
    t = np.array([tanh(v) for v in xs])
    assert np.abs(s - 1 / (1 + np.exp(-xs))).max() < 1e-7
    assert np.abs(t - np.tanh(xs)).max() < 1.5e-7
    assert sig(0.0) == 0.5 and tanh(0.0) == 0.0
    assert tanh(1e30) == 1.0 and tanh(-1e30) == -1.0 and sig(1e30) == 1.0 and 0.0 < sig(-1e30) < 5e-18
    assert np.isnan(sig(float("nan"))) and np.isnan(tanh(float("nan")))


def test_matvec_layout_and_chains(kernel):
    """sharnn_f32_matvec over the exporter's block layout equals a row-major chain of fmaf bit for
    bit, for every column remainder (pairs, a chunk of four, both) and a NULL bias."""
    fn = kernel.lib.sharnn_f32_matvec
    fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_uint32] * 2 + [ctypes.c_void_p]
    fma = libm_fmaf()
    rng = np.random.default_rng(7)
    for rows, cols in ((8, 2), (5, 4), (16, 6), (13, 10), (24, 14), (9, 8)):
        w = rng.normal(size=(rows, cols)).astype(np.float32)
        v = rng.normal(size=cols).astype(np.float32)
        pad = -(-rows // 8) * 8
        for bias in (rng.normal(size=pad).astype(np.float32), None):
            y = np.zeros(pad, dtype=np.float32)
            blocks = f32_blocks(w)
            fn(blocks.ctypes.data, v.ctypes.data, bias.ctypes.data if bias is not None else None, rows, cols,
               y.ctypes.data)
            for r in range(rows):
                acc = float(bias[r]) if bias is not None else 0.0
                for j in range(cols):
                    acc = fma(float(w[r, j]), float(v[j]), acc)
                assert np.float32(acc).tobytes() == y[r].tobytes(), (rows, cols, r)


@pytest.mark.parametrize("family,cells,options", [c for c in CASES if c[2]] + [("sharnn", ("durnn", "lstm"), None)])
def test_exported_buffer_sizes_equal_the_kernels(tmp_path, family, cells, options):
    """The exporter's scratch and ring lengths (static buffers of the firmware) are the C's own."""
    model = tiny_model(cells=cells, hidden=(9, 7), k=10, input_dim=5, num_classes=6, family=family, options=options)
    kernel = host_kernel(model, tmp_path)
    net = ctypes.addressof(ctypes.c_char.in_dll(kernel.lib, "wb_net"))
    for name in ("sharnn_f32_scratch_len", "sharnn_f32_stream_len"):
        getattr(kernel.lib, name).restype = ctypes.c_size_t
        getattr(kernel.lib, name).argtypes = [ctypes.c_void_p]
    assert kernel.lib.sharnn_f32_scratch_len(net) == kernel.info.scratch_len
    if family == "sharnn":
        assert kernel.lib.sharnn_f32_stream_len(net) == kernel.info.stream_len
