"""A device that crashes, hangs or dies: the host says so in one line, and QEMU is reaped.

The firmware is the real runner with a test glue (tests/fixtures/misbehaving_glue/) whose first
inference executes an undefined instruction or spins forever."""

from __future__ import annotations

import os
import re
import signal

import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench.errors import DeviceError
from workbench.paths import project_root
from workbench.targets.faults import FaultReport, Symbolizer, describe_fault

GLUE = project_root() / "tests" / "fixtures" / "misbehaving_glue" / "wb_model_misbehave.c"


# -- the fault line, without a device ------------------------------------------------------------------
def test_fault_line_is_decoded_with_names():
    line = ("WB-FAULT exc=00000003 pc=00001234 lr=00000567 cfsr=00010000 hfsr=40000000 mmfar=e000edf8 "
            "bfar=e000edf8 excret=fffffff9")
    r = FaultReport.parse(line)
    assert (r.exc, r.pc, r.cfsr) == (3, 0x1234, 0x10000)
    text = r.describe(lambda a: {0x1234: "wb_model_infer+0x4", 0x566: "run_measured+0x2e"}.get(a & ~1, ""))
    assert text == ("HardFault (forced; UsageFault: UNDEFINSTR (undefined instruction)) at "
                    "pc=0x00001234 wb_model_infer+0x4, lr=0x00000567 run_measured+0x2e; "
                    "CFSR=0x00010000 HFSR=0x40000000")


def test_bus_fault_names_the_address_and_an_irq_is_named():
    r = FaultReport.parse("WB-FAULT exc=00000005 pc=00000010 lr=00000020 cfsr=00008200 hfsr=00000000 "
                          "mmfar=0 bfar=f0000000 excret=fffffff9")
    assert "BusFault (BusFault: PRECISERR (precise data bus error), BFAR=0xf0000000)" in r.describe()
    assert FaultReport.parse("WB-FAULT exc=00000013 pc=0 lr=0 cfsr=0 hfsr=0").exception_name == \
        "unexpected interrupt IRQ3"


def test_no_fault_line_means_no_fault():
    assert describe_fault("qemu-system-arm: some warning\n") is None


# -- real firmware under QEMU ------------------------------------------------------------------------------
def _build(tmp_path_factory, mode: int):
    from workbench.boards import load_board
    from workbench.build import baremetal
    from workbench.export.c import export_c
    from workbench.models import modelfile
    from workbench.pipeline import Built

    board = load_board("mps2-an386")
    mf = modelfile.from_module(tiny_model(cells=("gru", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    root = tmp_path_factory.mktemp(f"misbehave{mode}")
    info = export_c(mf, root / "export")
    art = baremetal.build(board, info, root / board.name, extra_cflags=f"-DWB_TEST_MODE={mode}",
                          make_vars={"GLUE_SRC": str(GLUE)})
    return board, Built(mf, info, art, root)


def _assert_reaped(target):
    from workbench.targets.qemu import port_is_free

    assert target.proc.poll() is not None, "QEMU still running"
    assert port_is_free(target.port), f"serial port {target.port} still bound"


@needs_qemu
@slow
def test_faulting_firmware_is_reported_with_symbol_and_cfsr(tmp_path_factory, basicmotions, qemu_targets):
    from workbench.pipeline import run_on_qemu

    board, built = _build(tmp_path_factory, 1)
    with pytest.raises(DeviceError) as e:
        run_on_qemu(board, built, basicmotions[1].x[:2], link_timeout=5.0)
    msg = str(e.value)
    assert "\n" not in msg and e.value.exit_code == 3
    assert msg.startswith("device fault: HardFault (forced; UsageFault: UNDEFINSTR")
    assert " wb_model_infer+0x" in msg and "CFSR=0x00010000 HFSR=0x40000000" in msg
    sym = Symbolizer(built.artifact.elf)
    pc = int(msg.split("pc=")[1].split()[0], 16)
    assert sym(pc).startswith("wb_model_infer")
    (target,) = qemu_targets
    assert target.proc.returncode == 70
    _assert_reaped(target)


@needs_qemu
@slow
def test_silent_firmware_fails_within_the_timeout_and_qemu_is_reaped(tmp_path_factory, basicmotions,
                                                                    qemu_targets):
    from workbench.pipeline import run_on_qemu

    board, built = _build(tmp_path_factory, 2)
    with pytest.raises(DeviceError) as e:
        run_on_qemu(board, built, basicmotions[1].x[:2], link_timeout=1.5)
    msg = str(e.value)
    assert "\n" not in msg
    assert re.match(r"device silent for \d+\.\ds: no answer to INFER \(window 0\) after \d+ send", msg), msg
    assert "the firmware hangs or is stuck" in msg and msg.endswith("QEMU killed")
    (target,) = qemu_targets
    _assert_reaped(target)


@needs_qemu
@slow
def test_emulator_killed_mid_session_is_noticed_at_once(tmp_path_factory, qemu_targets):
    from workbench.boards import load_board
    from workbench.link.client import DeviceLink, LinkClosed
    from workbench.models import modelfile
    from workbench.pipeline import device_failure, export_and_build
    from workbench.targets.qemu import QemuTarget

    board = load_board("mps2-an386")
    mf = modelfile.from_module(tiny_model(cells=("gru", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    built = export_and_build(mf, board)
    target = QemuTarget(board, built.artifact.elf, use_plugin=False,
                        workdir=tmp_path_factory.mktemp("killed"))
    with target:
        port = target.start()
        link = DeviceLink(port, timeout=30.0, alive=target.alive)
        link.hello()
        os.kill(target.proc.pid, signal.SIGKILL)
        with pytest.raises(LinkClosed) as e:
            link.stats()
        err = device_failure(target, e.value)
        port.close()
    assert "QEMU exited with code -9" in str(err) and "\n" not in str(err)
    _assert_reaped(target)
