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
