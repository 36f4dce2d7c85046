"""Renode as a target: the generated platform and script, the one-line error without Renode, and
(where Renode and a Zephyr workspace are available) the nRF52840 Zephyr build streaming through
Renode with costs from the added DWT."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import tiny_model
from tests.test_zephyr import needs_zephyr
from workbench.boards import load_board
from workbench.errors import WorkbenchError
from workbench.models import modelfile
from workbench.targets import renode

STOCK_CPU = """nvic: IRQControllers.NVIC @ sysbus 0xE000E000
    -> cpu@0

uart0: UART.NRF52840_UART @ sysbus 0x40002000
    easyDMA: true

sysbus:
    init:
        ApplySVD @https://dl.antmicro.com/projects/renode/svd/NRF52840.svd.gz
        Tag <0x10000000, 0x10000FFF> "FICR"
"""


def have_renode() -> bool:
    try:
        renode.renode_root(renode.renode_command())
    except WorkbenchError:
        return False
    return True


needs_renode = pytest.mark.skipif(not have_renode(), reason="needs Renode (renode on PATH, or RENODE=path)")


@pytest.fixture
def fake_renode(tmp_path):
    """Fake: a Renode installation folder with the two platform files ``write_platform`` reads and a
    ``renode`` script that does nothing (Renode is not installed here)."""
    root = tmp_path / "renode"
    (root / "platforms" / "cpus").mkdir(parents=True)
    (root / "platforms" / "boards").mkdir()
    (root / "platforms" / "cpus" / "nrf52840.repl").write_text(STOCK_CPU)
    (root / "platforms" / "boards" / "dk.repl").write_text('using "platforms/cpus/nrf52840.repl"\n\n'
                                                         'led0: Miscellaneous.LED @ gpio0 13\n')
    exe = root / "renode"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return root


def test_platform_is_offline_with_a_dwt(fake_renode, tmp_path):
    board = load_board("nrf52840")
    assert renode.renode_root(renode.renode_command(str(fake_renode / "renode"))) == fake_renode
    repl = renode.write_platform(board, fake_renode, tmp_path / "out")
    top = repl.read_text()
    assert "dwt: Miscellaneous.DWT @ sysbus 0xe0001000\n    frequency: 64000000\n" in top
    body = (tmp_path / "out" / "platforms" / "nrf52840.repl").read_text()
    assert "ApplySVD" in body and "@https" in body and "\n        ApplySVD" not in body    # kept as a comment only
    assert 'Tag <0x10000000, 0x10000FFF> "FICR"' in body and "easyDMA: true" in body
    resc = renode.write_script(board, tmp_path / "fw.elf", repl, tmp_path / "uart.pty", tmp_path / "out").read_text()
    for line in ('mach create "nrf52840"', f"machine LoadPlatformDescription @{repl}",
                 "sysbus.cpu PerformanceInMips 64",
                 f'emulation CreateUartPtyTerminal "wb_uart" "{tmp_path / "uart.pty"}"',
                 "connector Connect sysbus.uart0 wb_uart", f"sysbus LoadELF @{tmp_path / 'fw.elf'}"):
        assert line in resc.splitlines()


def test_using_lines_point_at_cleaned_copies(fake_renode, tmp_path):
    board = load_board("nrf52840")
    board.emulators = {"renode": {"platform": "platforms/boards/dk.repl"}}
    renode.write_platform(board, fake_renode, tmp_path)
    dk = (tmp_path / "platforms" / "dk.repl").read_text()
    assert f'using "{tmp_path / "platforms" / "nrf52840.repl"}"' in dk
    assert "\n        ApplySVD" not in (tmp_path / "platforms" / "nrf52840.repl").read_text()


def test_renode_not_found_is_one_line_before_any_build(tmp_path):
    path = tmp_path / "m.wbm"
    modelfile.save(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"}), path)
    env = {k: v for k, v in os.environ.items() if k != "RENODE"}
    env["PATH"] = "/usr/bin:/bin" if not shutil.which("renode", path="/usr/bin:/bin") else str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--board", "nrf52840", "--emulator", "renode",
                           "--model", str(path)], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "workbench: error: Renode not found: install it (https://renode.io, e.g. the renode_1.15.3_amd64.deb "
        "release) so `renode` is on PATH, or pass --renode PATH (or set RENODE)"]


def test_board_without_that_emulator():
    from workbench.pipeline import target_factory

    with pytest.raises(WorkbenchError, match=r"board nrf52840 cannot run in qemu \(its board file has: renode\)"):
        target_factory(load_board("nrf52840"), emulator="qemu")
    with pytest.raises(WorkbenchError, match="board stm32f4_disco has no emulator: flash it"):
        target_factory(load_board("stm32f4_disco"))


@needs_renode
@needs_zephyr
def test_nrf52840_zephyr_build_under_renode(basicmotions):
    from workbench.pipeline import export_and_build, host_logits, run_on_target, target_factory

    board = load_board("nrf52840")
    mf = modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(8, 8), seed=5), {"dataset": "BasicMotions"})
    built = export_and_build(mf, board, "zephyr")
    target = target_factory(board, emulator="renode")(built)
    x = basicmotions[1].x[:3]
    session = run_on_target(target, built, x)
    host = host_logits(built, x)
    for i, w in enumerate(session.windows):
        assert w.logits.tobytes() == host[i].tobytes()
        assert w.stream_logits.tobytes() == w.logits.tobytes()
        assert w.cost > 100_000 and w.stream_cost > 0
    assert session.hello.counter_kind == "dwt" and session.hello.counter_hz == board.clock_hz
    assert target.measure.source == "renode-virtual-time" and target.measure.unit == "cycles"
    assert target.versions()["renode"] != "unknown"
    assert target.info()["dwt_hz"] == 64_000_000


@needs_renode
@needs_zephyr
def test_renode_profile_carries_the_cycle_estimate_of_qemu(tmp_path):
    """`workbench run` on the nRF52840 under Renode: the profile carries the Cortex-M4 cycle estimate
    (estimate-cm4-trm) from Renode's block trace, without Renode's disassembler library; the same
    Zephyr firmware for mps2-an386 under QEMU (the profile plugin) gives the same estimate, window by
    window, full and streamed (the same code runs between the markers on both boards)."""
    import json

    model = tmp_path / "m.wbm"
    modelfile.save(modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(8, 8), seed=5),
                                         {"dataset": "BasicMotions"}), model)
    profiles = {}
    for board, emulator in (("nrf52840", "renode"), ("mps2-an386", "qemu")):
        out = tmp_path / f"{board}.json"
        proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "--board", board, "--emulator", emulator,
                               "--backend", "zephyr", "--model", str(model), "--limit", "3", "--out", str(out)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-2000:]
        profiles[board] = json.loads(out.read_text())
    nrf, mps2 = profiles["nrf52840"], profiles["mps2-an386"]
    assert nrf["target"]["kind"] == "renode" and "trace_missing" not in nrf["target"]
    assert nrf["extra"]["cycle_model"]["source"] == "estimate-cm4-trm"
    for what in ("full_window", "stream_window"):
        cycles, ms = nrf["metrics"][f"cycles_est.{what}.median"], nrf["metrics"][f"latency_ms_est.{what}.median"]
        assert cycles["source"] == ms["source"] == "estimate-cm4-trm"
        assert ms["value"] == pytest.approx(cycles["value"] / 64e3)           # at the nRF52840's 64 MHz
    assert len(nrf["windows"]) == len(mps2["windows"]) == 3
    for a, b in zip(nrf["windows"], mps2["windows"]):
        assert (a["cycles_est"], a["stream_cycles_est"]) == (b["cycles_est"], b["stream_cycles_est"])
        assert a["cycles_est"] > a["cost"] - 6_400          # DWT virtual time: one per instruction, within a quantum


@needs_renode
@needs_zephyr
def test_a_block_trace_renode_cannot_compile_leaves_the_session_untraced(basicmotions, tmp_path, monkeypatch):
    """A Renode that cannot compile the block trace stops at its monitor: the target starts it again
    untraced, the session runs, and the profile's target says why there is no cycle estimate."""
    from workbench.pipeline import export_and_build, run_on_target, target_factory

    broken = tmp_path / "renode_blocktrace.cs"
    broken.write_text('namespace Workbench { public class Broken { int x = "not a number"; } }\n')
    monkeypatch.setattr(renode, "BLOCK_TRACE", broken)
    board = load_board("nrf52840")
    mf = modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(8, 8), seed=5), {"dataset": "BasicMotions"})
    built = export_and_build(mf, board, "zephyr")
    target = target_factory(board, emulator="renode")(built)
    session = run_on_target(target, built, basicmotions[1].x[:1])
    assert len(session.windows) == 1 and target.profile_reports() == []
    missing = target.info()["trace_missing"]
    assert missing.startswith(f"Renode could not compile renode_blocktrace.cs: {broken}(1,")
    assert "error CS0029" in missing and missing.endswith("; no cycle estimate")
