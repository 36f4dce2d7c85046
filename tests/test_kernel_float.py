"""The float C kernel, compiled for this machine, against torch (tolerance) and itself (streaming)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import tiny_model
from workbench.build.host import HostKernel, build_host_library
from workbench.export.c import export_c
from workbench.models import ShaRNNStream
from workbench.models.modelfile import from_module

# Measured max |C f32 logit - torch logit| over every window of the three tests below (4 ShaRNN cell pairs x 6
# windows, 16 sliding windows, 2 single-level cells x 3 windows): 5.96e-8 (= 2^-24, a difference in the last
# bits of a float32 logit). The tolerance is 10x that, a margin for the rounding of our exp/tanh/sigmoid
# (~1e-7 relative of libm) on other inputs.
LOGIT_ATOL = 6e-7


def host_kernel(model, tmp_path):
    mf = from_module(model)
    info = export_c(mf, tmp_path / "export")
    return HostKernel(build_host_library(info, tmp_path / "host"), info)


@pytest.mark.parametrize("cells", [("gru", "gru"), ("lstm", "lstm"), ("lstm", "gru"), ("gru", "lstm")])
def test_sharnn_matches_torch_and_streams_bit_exactly(tmp_path, cells):
    model = tiny_model(cells=cells, hidden=(12, 10), k=10)
    kernel = host_kernel(model, tmp_path)
    x = np.random.default_rng(1).normal(size=(6, 100, 6)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    for i in range(len(x)):
        full = kernel.infer(x[i])
        np.testing.assert_allclose(full, ref[i], atol=LOGIT_ATOL)
        kernel.stream_reset()
        outs = [kernel.stream_push(x[i, b * 10:(b + 1) * 10]) for b in range(10)]
        assert all(o is None for o in outs[:-1])
        assert outs[-1].tobytes() == full.tobytes()


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


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_single_level_baseline(tmp_path, cell):
    model = tiny_model(cells=(cell,), hidden=(16,), family="rnn")
    kernel = host_kernel(model, tmp_path)
    x = np.random.default_rng(3).normal(size=(3, 100, 6)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    for i in range(len(x)):
        np.testing.assert_allclose(kernel.infer(x[i]), ref[i], atol=LOGIT_ATOL)


def test_activations_are_accurate(tmp_path):
    import ctypes

    kernel = host_kernel(tiny_model(), tmp_path)
    for name in ("sharnn_expf", "sharnn_sigmoidf", "sharnn_tanhf"):
        getattr(kernel.lib, name).restype = ctypes.c_float
        getattr(kernel.lib, name).argtypes = [ctypes.c_float]
    xs = np.linspace(-30, 30, 4001, dtype=np.float32)
    exp = np.array([kernel.lib.sharnn_expf(float(v)) for v in xs])
    np.testing.assert_allclose(exp, np.exp(xs.astype(np.float64)), rtol=3e-7)
    sig = np.array([kernel.lib.sharnn_sigmoidf(float(v)) for v in xs])
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-xs.astype(np.float64))), atol=1e-7)
    th = np.array([kernel.lib.sharnn_tanhf(float(v)) for v in xs])
    np.testing.assert_allclose(th, np.tanh(xs.astype(np.float64)), atol=2e-7)
