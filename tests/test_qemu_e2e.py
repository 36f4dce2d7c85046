"""The spine end to end on mps2-an386 under QEMU: device logits equal the host-compiled kernel's
bit for bit, streaming equals full windows, counts repeat, profiles hold their contract."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench.boards import load_board
from workbench.models import modelfile
from workbench.pipeline import BuildOptions, export_and_build, host_logits, run_on_qemu

pytestmark = [needs_qemu, slow]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    mf = modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    return export_and_build(mf, load_board("mps2-an386"))


def test_device_equals_host_bit_for_bit_and_counts_repeat(built, basicmotions):
    _, test = basicmotions
    x = test.x[:6]
    host = host_logits(built, x)
    runs = []
    for use_plugin in (True, True, False):
        session, target, _ = run_on_qemu(load_board("mps2-an386"), built, x, use_plugin=use_plugin)
        runs.append(session)
        for i, w in enumerate(session.windows):
            assert w.logits.tobytes() == host[i].tobytes()
            assert w.stream_logits.tobytes() == w.logits.tobytes()
    a, b, icount = runs
    assert [w.cost for w in a.windows] == [w.cost for w in b.windows]
    assert [w.stream_cost for w in a.windows] == [w.stream_cost for w in b.windows]
    # icount SysTick readings resolve 40 instructions per tick at 25 MHz, shift 0.
    for wa, wi in zip(a.windows, icount.windows):
        assert abs(wa.cost - wi.cost) <= 80
    assert a.stats["infers"] == 6 and a.stats["streams"] == 60 and a.stats["crc_errors"] == 0


def test_semihosting_link_carries_the_same_session_as_the_uart(built, basicmotions):
    """--link semihost changes the wire only: the same logits, the same instruction counts."""
    _, test = basicmotions
    x = test.x[:4]
    board = load_board("mps2-an386")
    fast = export_and_build(built.model, board, options=BuildOptions(link="semihost"))
    assert fast.artifact.elf != built.artifact.elf
    uart, _, _ = run_on_qemu(board, built, x)
    semi, target, info = run_on_qemu(board, fast, x, link="semihost")
    assert info["link"] == "semihost" and target.proc.returncode == 0
    for a, b in zip(uart.windows, semi.windows):
        assert b.logits.tobytes() == a.logits.tobytes()
        assert b.stream_logits.tobytes() == a.stream_logits.tobytes()
        assert (b.cost, b.stream_cost) == (a.cost, a.stream_cost)
    assert semi.stats["infers"] == 4 and semi.stats["crc_errors"] == 0


def test_demo_cli_writes_a_complete_profile(tmp_path):
    out = tmp_path / "p.json"
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "demo", "--out", str(out)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p = json.loads(out.read_text())
    m = p["metrics"]
    assert p["dataset"] == {**p["dataset"], "name": "BasicMotions", "count": 40}
    assert m["agreement.device_host"]["value"] == 1.0
    assert m["agreement.device_torch_class"]["value"] == 1.0
    assert m["agreement.stream_full"]["value"] == 1.0
    assert m["accuracy.device"]["value"] >= 0.9
    for stat in ("median", "min", "max"):
        assert m[f"cost.full_window.{stat}"]["source"] == "qemu-plugin-instructions"
        assert m[f"cost.full_window.{stat}"]["unit"] == "instructions"
    for name, source in (("ram.data", "static-elf"), ("ram.bss", "static-elf"), ("ram.stack_peak", "stack-paint"),
                         ("flash.code", "static-elf"), ("flash.weights", "static-elf")):
        assert m[name]["source"] == source and m[name]["value"] > 0
    for key in ("python", "torch", "arm-none-eabi-gcc", "qemu"):
        assert key in p["versions"]
    assert all(w["device_host_bitexact"] for w in p["windows"])
    # Where the time goes: five stages that sum to the exact count of every full and streamed window, and a
    # cycle estimate that says it is one.
    for w in p["windows"]:
        assert set(w["stages"]) == {"lower", "upper", "head", "io", "other"}
        assert sum(w["stages"].values()) == w["cost"] and sum(w["stream_stages"].values()) == w["stream_cost"]
    for stage in ("lower", "upper", "head", "io", "other"):
        assert m[f"cost.stage.{stage}.median"]["source"] == "qemu-plugin-instructions"
    for name, unit in (("cycles_est.full_window.median", "cycles"), ("cycles_est.stream_window.median", "cycles"),
                       ("latency_ms_est.full_window.median", "ms"), ("latency_ms_est.stream_window.median", "ms")):
        assert (m[name]["unit"], m[name]["source"]) == (unit, "estimate-cm4-trm")
    assert p["extra"]["cycle_model"]["clock_hz"] == 25_000_000
    # The same seed again: identical counts and logits.
    out2 = tmp_path / "p2.json"
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "demo", "--out", str(out2)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    p2 = json.loads(out2.read_text())
    assert [w["cost"] for w in p["windows"]] == [w["cost"] for w in p2["windows"]]
    assert [w["stream_cost"] for w in p["windows"]] == [w["stream_cost"] for w in p2["windows"]]
    assert [w["logits"] for w in p["windows"]] == [w["logits"] for w in p2["windows"]]
    assert np.isclose(m["accuracy.device"]["value"], p2["metrics"]["accuracy.device"]["value"])
