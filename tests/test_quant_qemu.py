"""The int16 kernels on mps2-an386 under QEMU: the DSP (SMLAD) and portable builds, the host C and the
numpy reference give the same logits bit for bit, full windows, streamed bricks and a sliding stream."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench.boards import load_board
from workbench.models import modelfile
from workbench.pipeline import (device_inputs, export_and_build, host_logits, host_sliding_logits, reference_logits,
                                reference_sliding_logits, run_on_qemu, stream_of_windows)

pytestmark = [needs_qemu, slow]


@pytest.mark.parametrize("cells", [("lstm", "gru"), ("gru", "lstm")])
def test_dsp_and_portable_equal_host_and_reference(cells, basicmotions):
    train, test = basicmotions
    mf = modelfile.from_module(tiny_model(cells=cells, hidden=(11, 9)), {"dataset": "BasicMotions"})
    board = load_board("mps2-an386")
    answers = {}
    for path in ("dsp", "portable"):
        built = export_and_build(mf, board, quant="q15", calib_x=train.x, kernel_path=path)
        x = device_inputs(built, test)[:4]
        stream = stream_of_windows(x[:3])
        host, ref = host_logits(built, x), reference_logits(built, x)
        session, _, _ = run_on_qemu(board, built, x, sliding=stream)
        assert session.hello.has("dsp") == (path == "dsp")
        for i, w in enumerate(session.windows):
            assert w.logits.dtype == np.int32
            assert (w.logits == host[i]).all() and (w.logits == ref[i]).all()
            assert (w.stream_logits == w.logits).all()
        sliding = session.extra["sliding"]
        full = [lg for lg in sliding.logits if lg is not None]
        golden = reference_sliding_logits(built, stream)
        assert len(full) == len(golden) == 21
        assert all((a == b).all() for a, b in zip(full, golden))
        assert all((a == b).all() for a, b in zip(sliding.logits, host_sliding_logits(built, stream)) if a is not None)
        answers[path] = ([w.logits for w in session.windows], full, [w.cost for w in session.windows])
    dsp, portable = answers["dsp"], answers["portable"]
    assert all((a == b).all() for a, b in zip(dsp[0] + dsp[1], portable[0] + portable[1]))
    assert max(dsp[2]) < min(portable[2])        # the SMLAD path really ran


def test_stacked_layers_on_the_device_equal_host_and_reference(basicmotions):
    """minGRU x2 under minLSTM x2 (the keyword models' shape, small): the layers chained by `above`
    give the reference's integers on the device, full, streamed and sliding."""
    train, test = basicmotions
    model = tiny_model(cells=("mingru", "minlstm"), hidden=(10, 8), options=[{"layers": 2}, {"layers": 2}])
    mf = modelfile.from_module(model, {"dataset": "BasicMotions"})
    board = load_board("mps2-an386")
    built = export_and_build(mf, board, quant="q15", calib_x=train.x)
    x = device_inputs(built, test)[:3]
    stream = stream_of_windows(x)
    session, _, _ = run_on_qemu(board, built, x, sliding=stream)
    ref = reference_logits(built, x)
    for i, w in enumerate(session.windows):
        assert (w.logits == ref[i]).all() and (w.stream_logits == w.logits).all()
    full = [lg for lg in session.extra["sliding"].logits if lg is not None]
    assert all((a == b).all() for a, b in zip(full, reference_sliding_logits(built, stream)))


def test_run_cli_q15_profile(tmp_path):
    model = tmp_path / "m.wbm"
    modelfile.save(modelfile.from_module(tiny_model(cells=("lstm", "lstm"), hidden=(8, 8)),
                                         {"dataset": "BasicMotions"}), model)
    out = tmp_path / "p.json"
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--model", str(model), "--quant", "q15",
                           "--limit", "3", "--sliding", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = json.loads(out.read_text())
    m = p["metrics"]
    assert p["model"]["quantization"] == "q15" and p["model"]["kernel_path"] == "dsp"
    for name in ("agreement.device_host", "agreement.device_reference", "agreement.host_reference",
                 "agreement.stream_full", "agreement.sliding_device_host", "agreement.sliding_device_reference"):
        assert m[name]["value"] == 1.0, name
    assert m["accuracy.reference"]["source"] == "reference-output"
    assert m["count.sliding_windows"]["value"] == 21
    assert m["cost.sliding_window.median"]["source"] == "qemu-plugin-instructions"
    assert all(isinstance(v, int) for w in p["windows"] for v in w["logits"])


def test_core_benchmark_firmware_counts():
    from workbench.build.baremetal import build_app
    from workbench.paths import build_dir
    from workbench.targets.qemu import QemuTarget

    board = load_board("mps2-an386")
    counts = {}
    # One folder for both builds, SMLAD then portable then SMLAD again: a rebuild with other flags
    # must not link the previous flags' objects (it once did: the portable build counted 7 pairs).
    for path, flags in (("dsp", ""), ("portable", "-DSHARNN_PORTABLE"), ("dsp again", "")):
        art = build_app(board, "bench", build_dir() / "test-bench", extra_cflags=flags)
        counts[path] = QemuTarget(board, art.elf).run_to_exit()
    assert counts["dsp again"] == counts["dsp"]
    # int16 shapes, (SMLAD build) the int8-weight experiment, then the float shapes
    assert len(counts["portable"]) == 5 + 8 and len(counts["dsp"]) == 7 + 8
    assert all(d < p for d, p in zip(counts["dsp"][:5] + counts["dsp"][7:], counts["portable"]))
