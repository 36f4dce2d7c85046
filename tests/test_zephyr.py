"""The Zephyr backend: the runner as a Zephyr app, built with west in the user's workspace.

Zephyr is on no package registry, so the build tests skip unless ZEPHYR_BASE names a workspace
(with west and a toolchain); the error paths run everywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import HAVE_ARM, tiny_model
from workbench.boards import load_board
from workbench.build import zephyr
from workbench.errors import WorkbenchError
from workbench.models import modelfile


def have_zephyr() -> bool:
    try:
        zephyr.find_workspace()
    except WorkbenchError:
        return False
    return "ZEPHYR_BASE" in os.environ


needs_zephyr = pytest.mark.skipif(not (have_zephyr() and HAVE_ARM),
                                  reason="needs a Zephyr workspace (ZEPHYR_BASE, west, a toolchain) and QEMU")


@pytest.fixture(scope="module")
def model():
    return modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(8, 8), seed=5), {"dataset": "BasicMotions"})


def test_no_workspace_is_one_line_with_the_setup(tmp_path, model):
    path = tmp_path / "m.wbm"
    modelfile.save(model, path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEPHYR", "GNUARMEMB"))}
    env["PATH"] = "/usr/bin:/bin"       # no west
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "build", "--board", "nrf52840", "--model", str(path)],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("workbench: error: no Zephyr workspace: ZEPHYR_BASE is not set")
    for step in ("pip install west", "west init -m https://github.com/zephyrproject-rtos/zephyr", "west update",
                 "west sdk install", "export ZEPHYR_BASE="):
        assert step in lines[0]


def test_workspace_errors(tmp_path):
    with pytest.raises(WorkbenchError, match=r"ZEPHYR_BASE=.* is not a Zephyr tree \(no VERSION file there\)"):
        zephyr.find_workspace({"ZEPHYR_BASE": str(tmp_path), "PATH": "/usr/bin:/bin"})
    (tmp_path / "VERSION").write_text("VERSION_MAJOR = 4\nVERSION_MINOR = 1\nPATCHLEVEL = 0\n")
    west_dir = tmp_path / "bin"
    west_dir.mkdir()
    (west_dir / "west").write_text("#!/bin/sh\nexit 1\n")
    (west_dir / "west").chmod(0o755)
    env = {"ZEPHYR_BASE": str(tmp_path), "PATH": str(west_dir), "HOME": str(tmp_path)}
    with pytest.raises(WorkbenchError, match=r"no toolchain for Zephyr: install the Zephyr SDK .* "
                                             r"ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb GNUARMEMB_TOOLCHAIN_PATH=/usr"):
        zephyr.find_workspace(env)
    with pytest.raises(WorkbenchError, match="needs GNUARMEMB_TOOLCHAIN_PATH"):
        zephyr.find_workspace({**env, "ZEPHYR_TOOLCHAIN_VARIANT": "gnuarmemb"})
    ws = zephyr.find_workspace({**env, "ZEPHYR_SDK_INSTALL_DIR": str(tmp_path)})
    assert (ws.version, ws.toolchain) == ("4.1.0", "zephyr")


def test_west_build_command_passes_module_and_model(tmp_path):
    ws = zephyr.Workspace(tmp_path, "west", "4.1.0", "gnuarmemb")
    info = type("Info", (), {"directory": str(tmp_path / "export"), "quantization": "f32"})()
    cmd = zephyr.west_build_command(ws, "nrf52840dk/nrf52840", info, tmp_path / "out")
    assert cmd[:7] == ["west", "build", "-p", "auto", "-b", "nrf52840dk/nrf52840", "-d"]
    assert cmd[cmd.index("-s") + 1] == str(zephyr.app_dir())
    assert f"-DZEPHYR_EXTRA_MODULES={zephyr.module_dir()}" in cmd
    assert f"-DWB_MODEL_DIR={tmp_path / 'export'}" in cmd and "-DWB_QUANT=f32" in cmd
    assert "-DCONFIG_SHARNN_PORTABLE=n" in cmd
    info.quantization = "q15"
    cmd = zephyr.west_build_command(ws, "mps2/an386", info, tmp_path / "out", portable=True)
    assert "-DWB_QUANT=q15" in cmd and "-DCONFIG_SHARNN_PORTABLE=y" in cmd


def test_zephyr_build_refuses_bare_metal_compiler_options(model):
    from workbench.pipeline import BuildOptions, export_and_build

    with pytest.raises(WorkbenchError, match=r"^--opt/--cflags apply to bare-metal builds: a Zephyr build takes"):
        export_and_build(model, load_board("mps2-an386"), "zephyr", options=BuildOptions("-O1"))


def test_first_error_of_a_log():
    log = ["-- Zephyr version: 4.1.0", "CMake Error at CMakeLists.txt:15 (message):",
           "  pass -DWB_MODEL_DIR=<folder written by `workbench export`>", "-- Configuring incomplete"]
    assert zephyr.first_error(log) == ("CMake Error at CMakeLists.txt:15 (message): pass -DWB_MODEL_DIR=<folder "
                                       "written by `workbench export`>")
    assert zephyr.first_error(["[1/3] cc", "src/port.c:10:5: error: 'x' undeclared", "ninja: build stopped"]) == \
        "src/port.c:10:5: error: 'x' undeclared"


def test_module_files_agree():
    """Both module.yml files (repository root for west manifests, firmware/sharnn for
    ZEPHYR_EXTRA_MODULES) point at the same CMakeLists.txt and Kconfig."""
    import re

    from workbench.paths import firmware_dir, project_root

    for yml, base in ((project_root() / "zephyr" / "module.yml", project_root()),
                      (firmware_dir() / "sharnn" / "zephyr" / "module.yml", firmware_dir() / "sharnn")):
        text = yml.read_text()
        cmake = re.search(r"cmake:\s*(\S+)", text).group(1)
        kconfig = re.search(r"kconfig:\s*(\S+)", text).group(1)
        assert (base / cmake / "CMakeLists.txt").resolve() == (firmware_dir() / "sharnn" / "CMakeLists.txt")
        assert (base / kconfig).resolve() == (firmware_dir() / "sharnn" / "Kconfig")
    assert "config SHARNN\n" in (firmware_dir() / "sharnn" / "Kconfig").read_text()


@needs_zephyr
@pytest.mark.parametrize("board_name", ["mps2-an386", "qemu_cortex_m3"])
def test_zephyr_app_equals_host_and_bare_metal(model, basicmotions, board_name):
    """Built with west, run under QEMU: logits equal the host kernel's bit for bit (and the bare-metal
    build's on mps2-an386); the Cortex-M3 has no FPU and equals them too, in software float."""
    from workbench.pipeline import export_and_build, host_logits, run_on_qemu

    board = load_board(board_name)
    built = export_and_build(model, board, "zephyr")
    mem = built.artifact.memory
    assert built.artifact.backend == "zephyr" and built.artifact.elf.name == "zephyr.elf"
    assert mem.flash_weights == built.export.weight_bytes and mem.model_state > 0
    assert mem.symbols["z_main_stack"] >= 4096 and mem.ram_stack_reserved >= mem.symbols["z_main_stack"]
    x = basicmotions[1].x[:3]
    session, target, info = run_on_qemu(board, built, x)
    host = host_logits(built, x)
    assert session.hello.board.startswith(board.backends["zephyr"])   # CONFIG_BOARD_TARGET
    assert session.hello.has("stack_paint") and 0 < session.stats["stack_peak"] <= session.stats["stack_size"]
    for i, w in enumerate(session.windows):
        assert w.logits.tobytes() == host[i].tobytes()
        assert w.stream_logits.tobytes() == w.logits.tobytes()
        assert w.cost > 0 and 0 < w.stack_bytes < 4096
    assert target.measure.source == "qemu-plugin-instructions"
    if "baremetal" in board.backends:
        bare, _, _ = run_on_qemu(board, export_and_build(model, board, "baremetal"), x)
        assert [w.logits.tobytes() for w in bare.windows] == [w.logits.tobytes() for w in session.windows]


@needs_zephyr
def test_zephyr_builds_for_the_nrf52840dk(model):
    from workbench.pipeline import export_and_build

    board = load_board("nrf52840")
    built = export_and_build(model, board, "zephyr")
    config = (built.artifact.elf.parent / ".config").read_text()
    for line in ("CONFIG_SHARNN=y", "CONFIG_CORTEX_M_DWT=y", "CONFIG_FPU=y", "CONFIG_UART_INTERRUPT_DRIVEN=y"):
        assert line in config
    assert "CONFIG_WB_EXIT_SEMIHOSTING=y" not in config
    assert built.artifact.memory.flash_weights == built.export.weight_bytes
    assert os.path.isfile(built.artifact.extra["hex"])      # what west flash / pyOCD write


@needs_zephyr
def test_zephyr_q15_equals_bare_metal_and_reference(model, basicmotions):
    """The int16 glue and kernels in the Zephyr app (WB_QUANT=q15): on mps2-an386 under QEMU the
    logits are the bare-metal build's integers and the numpy integer reference's, with the DSP
    (SMLAD) path; CONFIG_SHARNN_PORTABLE gives the same integers from plain C."""
    from workbench.pipeline import device_inputs, export_and_build, reference_logits, run_on_qemu

    board = load_board("mps2-an386")
    train, test = basicmotions
    built = export_and_build(model, board, "zephyr", quant="q15", calib_x=train.x)
    x = device_inputs(built, test)[:3]
    zeph, _, _ = run_on_qemu(board, built, x)
    assert zeph.hello.has("dsp")
    bare, _, _ = run_on_qemu(board, export_and_build(model, board, "baremetal", quant="q15", calib_x=train.x), x)
    portable = export_and_build(model, board, "zephyr", quant="q15", calib_x=train.x, kernel_path="portable")
    port, _, _ = run_on_qemu(board, portable, x)
    assert not port.hello.has("dsp")
    golden = reference_logits(built, x)
    for i, (z, b, p) in enumerate(zip(zeph.windows, bare.windows, port.windows)):
        assert z.logits.tolist() == b.logits.tolist() == p.logits.tolist() == golden[i].tolist()
        assert z.stream_logits.tolist() == z.logits.tolist()


FAMILY_MODELS = [(("fastgrnn", "minlstm"), [{"w_rank": 3}, {}], "f32"),
                 (("mingru", "durnn"), [{"layers": 2}, {"short_size": 5, "long_activation": "tanh"}], "f32"),
                 (("mingru", "minlstm"), [{"layers": 2}, {"layers": 2}], "q15")]


@needs_zephyr
@pytest.mark.parametrize("cells,options,quant", FAMILY_MODELS,
                         ids=[f"{'-'.join(c)}-{q}" for c, _, q in FAMILY_MODELS])
def test_zephyr_every_family_equals_host_and_bare_metal(cells, options, quant, basicmotions):
    """The float kernels of the other families (FastGRNN low rank, stacked minGRU/minLSTM layers,
    DuRNN) and stacked int16 layers in the Zephyr app on mps2-an386: the host C's (f32) or the numpy
    reference's (q15) logits bit for bit, and the bare-metal build's."""
    from workbench.pipeline import device_inputs, export_and_build, host_logits, reference_logits, run_on_qemu

    board = load_board("mps2-an386")
    train, test = basicmotions
    mf = modelfile.from_module(tiny_model(cells=cells, hidden=(9, 7), options=options), {"dataset": "BasicMotions"})
    built = export_and_build(mf, board, "zephyr", quant=quant, calib_x=train.x)
    x = device_inputs(built, test)[:3]
    session, _, _ = run_on_qemu(board, built, x)
    want = host_logits(built, x) if quant == "f32" else reference_logits(built, x)
    bare, _, _ = run_on_qemu(board, export_and_build(mf, board, "baremetal", quant=quant, calib_x=train.x), x)
    for i, (w, b) in enumerate(zip(session.windows, bare.windows)):
        assert w.logits.tobytes() == want[i].tobytes() == b.logits.tobytes()
        assert w.stream_logits.tobytes() == w.logits.tobytes()
