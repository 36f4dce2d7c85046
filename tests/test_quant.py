"""The int16 plan and its numpy integer reference against the C kernel compiled for this machine:
bit for bit on every output, including saturating inputs, odd sizes, streaming and sliding."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch

from tests.conftest import slow, tiny_model
from workbench.build.host import HostKernel, build_host_library
from workbench.errors import WorkbenchError
from workbench.export.c import export_c, interleave_blocks
from workbench.models.modelfile import from_module
from workbench.paths import firmware_dir
from workbench.quantize import quantize_model, reference
from workbench.quantize.fixedpoint import (TABLE_SOURCE, TABLES, rshift_round, sigmoid_q15, table, table_values,
                                           tables_c_source, tanh_q15)
from workbench.quantize.plan import INT32_MAX, acc_bound

CELL_PAIRS = [("lstm", "lstm"), ("gru", "gru"), ("lstm", "gru"), ("gru", "lstm")]


def build(model, calib, tmp_path):
    mf = from_module(model)
    qm = quantize_model(mf, calib)
    info = export_c(mf, tmp_path / "export", qm)
    return qm, HostKernel(build_host_library(info, tmp_path / "host"), info)


def test_committed_tables_are_the_generated_ones():
    assert (firmware_dir() / TABLE_SOURCE).read_text() == tables_c_source()
    for name in TABLES:
        assert (table(name) == table_values(name)).all()


def test_activations_are_accurate_and_equal_the_c_ones(tmp_path):
    _, kernel = build(tiny_model(), np.zeros((2, 100, 6), np.float32), tmp_path)
    for fn in ("sharnn_tanh_q15", "sharnn_sigmoid_q15"):
        getattr(kernel.lib, fn).restype = ctypes.c_int16
        getattr(kernel.lib, fn).argtypes = [ctypes.c_int32]
    rng = np.random.default_rng(0)
    x = np.concatenate([np.arange(-(20 << 16), 20 << 16, 997), rng.integers(-2**31 + 1, 2**31 - 1, 2000),
                        [0, 1, -1, 8 << 16, -(8 << 16), (16 << 16) - 1, 16 << 16, 2**31 - 1, -2**31 + 1]])
    c_tanh = np.array([kernel.lib.sharnn_tanh_q15(int(v)) for v in x])
    c_sig = np.array([kernel.lib.sharnn_sigmoid_q15(int(v)) for v in x])
    assert (c_tanh == tanh_q15(x)).all() and (c_sig == sigmoid_q15(x)).all()
    real = x.astype(np.float64) / 65536
    assert np.abs(c_tanh - np.tanh(real) * 32768).max() <= 1.6
    assert np.abs(c_sig - 16384 * (1 + np.tanh(real / 2))).max() <= 1.3
    assert c_sig.min() >= 1 and c_sig.max() <= 32767


def test_rshift_round_is_round_half_up():
    assert list(rshift_round([5, 6, 7, -5, -6, -7, 0], 2)) == [1, 2, 2, -1, -1, -2, 0]   # 1.25, 1.5, 1.75 ...
    assert list(rshift_round([3, -3], 0)) == [3, -3]


@pytest.mark.parametrize("cells", CELL_PAIRS)
def test_reference_equals_host_c_full_and_streamed(tmp_path, cells):
    model = tiny_model(cells=cells, hidden=(11, 9), k=10)     # odd: zero-padded state and weights
    rng = np.random.default_rng(1)
    calib = rng.normal(size=(30, 100, 6)).astype(np.float32)
    qm, kernel = build(model, calib, tmp_path)
    x = np.concatenate([rng.normal(size=(6, 100, 6)), 40 * rng.normal(size=(2, 100, 6))]).astype(np.float32)
    xq = qm.quantize_inputs(x)
    assert xq.dtype == np.int16 and (xq.max() == 32767 or xq.min() == -32768)   # the 40-sigma windows saturate
    ref = reference.infer(qm, xq)
    for i in range(len(x)):
        full = kernel.infer(xq[i])
        assert (full == ref[i]).all()
        kernel.stream_reset()
        outs = [kernel.stream_push(xq[i, b * 10:(b + 1) * 10]) for b in range(10)]
        assert all(o is None for o in outs[:-1]) and (outs[-1] == full).all()
    # Quantized logits stay close to the float model's on ordinary inputs.
    with torch.no_grad():
        fl = model(torch.from_numpy(x[:6])).numpy()
    assert np.abs(qm.logits_to_float(ref[:6]) - fl).max() < 2e-3


def test_sliding_stream_equals_reference_and_full_windows(tmp_path):
    model = tiny_model(cells=("lstm", "gru"), hidden=(8, 8), k=10)
    rng = np.random.default_rng(2)
    qm, kernel = build(model, rng.normal(size=(10, 100, 6)).astype(np.float32), tmp_path)
    stream = qm.quantize_inputs(rng.normal(size=(250, 6)).astype(np.float32))
    ref = reference.sliding(qm, stream)
    kernel.stream_reset()
    outs = [kernel.stream_push(stream[b * 10:(b + 1) * 10]) for b in range(25)]
    assert all(o is None for o in outs[:9])
    assert len(ref) == 16
    for j, out in enumerate(outs[9:]):
        assert (out == ref[j]).all()
        assert (out == reference.infer(qm, stream[None, j * 10:j * 10 + 100])[0]).all()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_odd_sizes_single_level_and_large_weights(tmp_path, cell):
    """Odd input and hidden sizes (zero padding), a single level, 9 classes (a padded classifier
    block) and weights scaled up until cell states and activations saturate."""
    model = tiny_model(cells=(cell,), hidden=(7,), input_dim=5, window=20, num_classes=9, family="rnn")
    with torch.no_grad():
        for p in model.cell.parameters():
            p.mul_(8)
    rng = np.random.default_rng(3)
    calib = rng.normal(size=(20, 20, 5)).astype(np.float32)
    qm, kernel = build(model, calib, tmp_path)
    xq = qm.quantize_inputs(calib)
    assert xq.shape == (20, 20, 6) and (xq[..., 5] == 0).all()
    ref = reference.infer(qm, xq)
    assert all((kernel.infer(xq[i]) == ref[i]).all() for i in range(len(xq)))


def test_plan_keeps_every_accumulator_inside_int32():
    model = tiny_model(cells=("lstm", "gru"), hidden=(16, 8))
    with torch.no_grad():
        model.cell1.rnn.weight_hh_l0.mul_(30)     # large rows: the plan must lower their Q format
        model.cell1.rnn.bias_ih_l0.add_(20)
    qm = quantize_model(from_module(model), np.random.default_rng(4).normal(size=(10, 100, 6)).astype(np.float32))
    for c in qm.cells:
        assert np.all(acc_bound(c.w_x, c.b_x) + ((1 << c.shift_x) >> 1) <= INT32_MAX)
        assert np.all(acc_bound(c.w_h, c.b_h) + ((1 << c.shift_h) >> 1) <= INT32_MAX)
        assert np.abs(c.w_x).max() <= 32767 and np.abs(c.w_h).max() <= 32767
    assert np.all(acc_bound(qm.fc_w, qm.fc_b) <= INT32_MAX)
    assert qm.cells[0].q_wh < qm.cells[1].q_wh
    assert qm.cells[0].q_c is not None and qm.cells[1].q_c is None


def test_interleaved_layout():
    w = np.arange(24).reshape(6, 4)                  # 6 rows, 2 column pairs
    out = interleave_blocks(w, [[0, 2, 4], [1, 3, -1]])
    # block 0, pair 0: rows 0, 2, 4 columns 0-1; then pair 1: columns 2-3; block 1 pads its last row.
    assert list(out[:12]) == [0, 1, 8, 9, 16, 17, 2, 3, 10, 11, 18, 19]
    assert list(out[12:]) == [4, 5, 12, 13, 0, 0, 6, 7, 14, 15, 0, 0]


def test_plan_errors_are_one_line():
    mf = from_module(tiny_model())
    with pytest.raises(WorkbenchError, match="calibration windows"):
        quantize_model(mf, np.zeros((3, 50, 6), np.float32))
    with pytest.raises(WorkbenchError, match="quantization 'q7' is not supported by this build"):
        quantize_model(mf, np.zeros((3, 100, 6), np.float32), "q7")
    with pytest.raises(WorkbenchError, match="non-finite"):
        quantize_model(mf, np.full((3, 100, 6), np.nan, np.float32))


@slow                                   # three workbench processes
def test_export_cli_q15_and_its_errors(tmp_path):
    import subprocess
    import sys

    from workbench.models import modelfile

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True)

    named = modelfile.save(from_module(tiny_model(), {"dataset": "BasicMotions"}), tmp_path / "named.wbm")
    proc = cli("export", str(named), "--out", str(tmp_path / "c"), "--quant", "q15")
    assert proc.returncode == 0, proc.stderr
    config = (tmp_path / "c" / "wb_model_config.h").read_text()
    assert "#define WB_MODEL_QUANT_Q15 1" in config and "#define WB_MODEL_Q_IN" in config
    assert "const sharnn_q15_model_t wb_net" in (tmp_path / "c" / "wb_model_data.c").read_text()

    anonymous = modelfile.save(from_module(tiny_model()), tmp_path / "anon.wbm")
    proc = cli("export", str(anonymous), "--out", str(tmp_path / "d"), "--quant", "q15")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "does not name its dataset" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("build", "--model", str(named), "--quant", "q7")
    assert proc.returncode == 2 and "invalid choice: 'q7'" in proc.stderr


def test_run_realigns_the_dataset_to_the_models_window():
    """A model trained with --window N (uneven series, e.g. JapaneseVowels at 30) is run and
    calibrated on the same re-aligned windows, not on the loader's end-padded ones."""
    from workbench.data import Dataset
    from workbench.pipeline import model_windows

    x = np.arange(2 * 4 * 2, dtype=np.float32).reshape(2, 4, 2) + 1
    x[1, 3:] = 0
    data = Dataset("uneven", "test", x, np.array([0, 1]), ["a", "b"], lengths=np.array([4, 3]))
    mf = from_module(tiny_model(window=5, input_dim=2, k=5), {"window_prep": {"window": 5, "align": "end"}})
    got = model_windows(mf, data)
    assert got.x.shape == (2, 5, 2)
    assert (got.x[0, 1:] == x[0]).all() and (got.x[1, 2:] == x[1, :3]).all() and not got.x[1, :2].any()
    assert model_windows(from_module(tiny_model()), data) is data
