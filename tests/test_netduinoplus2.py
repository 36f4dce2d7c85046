"""netduinoplus2, the second emulated Cortex-M4 (QEMU's STM32F405, its own bare-metal port): the same
firmware gives the same logits, bit for bit, as on mps2-an386 and as the host, and the same
instruction counts (only the port differs, not the measured code)."""

from __future__ import annotations

import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench.boards import load_board
from workbench.models import modelfile
from workbench.pipeline import export_and_build, host_logits, run_on_qemu

pytestmark = [needs_qemu, slow]


@pytest.fixture(scope="module")
def model():
    return modelfile.from_module(tiny_model(cells=("gru", "lstm"), hidden=(8, 8), seed=3), {"dataset": "BasicMotions"})


def test_same_logits_and_counts_as_mps2(model, basicmotions):
    x = basicmotions[1].x[:4]
    runs = {}
    for name in ("netduinoplus2", "mps2-an386"):
        board = load_board(name)
        built = export_and_build(model, board)
        session, _, info = run_on_qemu(board, built, x)
        assert info["machine"] == name
        runs[name] = session
    host = host_logits(built, x)
    nd, an = runs["netduinoplus2"], runs["mps2-an386"]
    assert nd.hello.board == "netduinoplus2"
    for i, (a, b) in enumerate(zip(nd.windows, an.windows)):
        assert a.logits.tobytes() == b.logits.tobytes() == host[i].tobytes()
        assert a.stream_logits.tobytes() == a.logits.tobytes()
        assert (a.cost, a.stream_cost) == (b.cost, b.stream_cost)
    assert nd.stats["crc_errors"] == 0 and nd.stats["infers"] == 4


def test_systick_runs_at_168_mhz_under_icount(model, basicmotions):
    """SysTick readings under -icount, converted with the board clock, match the plugin's exact
    counts to within a tick (~6 instructions) plus the cost of reading the counter."""
    board = load_board("netduinoplus2")
    built = export_and_build(model, board)
    x = basicmotions[1].x[:2]
    exact, _, _ = run_on_qemu(board, built, x, stream=False)
    ticks, target, _ = run_on_qemu(board, built, x, stream=False, use_plugin=False)
    assert target.measure.source == "qemu-icount-instructions"
    for a, b in zip(exact.windows, ticks.windows):
        assert abs(a.cost - b.cost) <= 40, (a.cost, b.cost)


def test_q15_profiles_of_the_two_boards_hold_the_same_integers(tmp_path):
    """`workbench run --quant q15` on netduinoplus2 and on mps2-an386 (bare metal, DSP path): the
    per-window logits written to the two profiles are the same integers, and equal the numpy
    integer reference."""
    import json
    import subprocess
    import sys

    from workbench.profile.compare import logits_note

    model = tmp_path / "m.wbm"
    modelfile.save(modelfile.from_module(tiny_model(cells=("gru", "gru"), hidden=(8, 8), seed=5),
                                         {"dataset": "BasicMotions"}), model)
    profiles = {}
    for name in ("netduinoplus2", "mps2-an386"):
        out = tmp_path / f"{name}.json"
        proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--board", name, "--model", str(model),
                               "--quant", "q15", "--limit", "4", "--out", str(out)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        profiles[name] = json.loads(out.read_text())
    nd, an = profiles["netduinoplus2"], profiles["mps2-an386"]
    assert (nd["board"], an["board"]) == ("netduinoplus2", "mps2-an386")
    assert nd["model"]["quantization"] == an["model"]["quantization"] == "q15"
    logits = [[w["logits"] for w in p["windows"]] for p in (nd, an)]
    assert len(logits[0]) == 4 and logits[0] == logits[1]
    assert logits_note(an, nd) == "per-window logits: identical in all 4 windows"     # what `compare` notes
    assert all(isinstance(v, int) for w in logits[0] for v in w)
    for p in (nd, an):
        assert p["metrics"]["agreement.device_reference"]["value"] == 1.0
        assert p["metrics"]["agreement.stream_full"]["value"] == 1.0
