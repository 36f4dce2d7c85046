"""The float kernels of every cell family on mps2-an386 under QEMU: device logits equal the host C
kernel's bit for bit (fused multiply-adds: VFMA.F32 on the device, a software fmaf on the host), full
windows, streamed bricks and the portable C path; the firmware links no libm."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tests.conftest import needs_qemu, tiny_model
from workbench.boards import load_board
from workbench.models import modelfile
from workbench.pipeline import BuildOptions, export_and_build, host_logits, run_on_qemu

pytestmark = needs_qemu

# Together: all six families at both levels, FastGRNN low rank, stacked minGRU/minLSTM layers, DuRNN
# with two modules and a tanh long-term part, odd sizes (padded rows and columns).
MODELS = [
    (("fastgrnn", "mingru"), None),
    (("minlstm", "durnn"), None),
    (("mingru", "minlstm"), [{"layers": 2}, {"layers": 3}]),
    (("durnn", "fastgrnn"), [{"layers": 2, "short_size": 7, "long_activation": "tanh"}, {"w_rank": 3, "u_rank": 2}]),
    (("lstm", "gru"), None),
]
LIBM = ("fmaf", "fma", "expf", "exp", "tanhf", "tanh", "__aeabi_dadd", "__aeabi_dmul")


@pytest.mark.parametrize("cells,options", MODELS, ids=["-".join(c) + ("-opts" if o else "") for c, o in MODELS])
def test_device_equals_host_for_every_family(cells, options, basicmotions):
    model = tiny_model(cells=cells, hidden=(9, 7), options=options)
    mf = modelfile.from_module(model, {"dataset": "BasicMotions"})
    board = load_board("mps2-an386")
    x = basicmotions[1].x[:3]
    answers = {}
    for path in ("dsp", "portable"):
        built = export_and_build(mf, board, kernel_path=path, options=BuildOptions(link="semihost"))
        host = host_logits(built, x)
        session, _, _ = run_on_qemu(board, built, x, link="semihost")
        for i, w in enumerate(session.windows):
            assert w.logits.dtype == np.float32
            assert w.logits.tobytes() == host[i].tobytes()
            assert w.stream_logits.tobytes() == w.logits.tobytes()
        answers[path] = [w.cost for w in session.windows]
        symbols = subprocess.run(["arm-none-eabi-nm", str(built.artifact.elf)], capture_output=True,
                                 text=True).stdout.split()
        assert not set(LIBM) & set(symbols)
    assert max(answers["dsp"]) < min(answers["portable"])      # the VLDM/VFMA path really ran
