"""The Zephyr backend: the runner as a Zephyr app, built with west in the user's workspace.

Zephyr is on no package registry, so the build tests skip unless ZEPHYR_BASE names a workspace
(with west and a toolchain); the error paths run everywhere.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_qemu, tiny_model
from workbench.boards import load_board
from workbench.build import zephyr
from workbench.errors import WorkbenchError
from workbench.filesystem import plain_path
from workbench.models import modelfile


def have_zephyr() -> bool:
    try:
        zephyr.find_workspace()
    except WorkbenchError:
        return False
    return "ZEPHYR_BASE" in os.environ


_zephyr_workspace = pytest.mark.skipif(not have_zephyr(),
                                       reason="needs a Zephyr workspace (ZEPHYR_BASE, west, a toolchain)")


def needs_zephyr(test):
    """A Zephyr build test: a Zephyr workspace, and arm-none-eabi-gcc/QEMU (so it carries ``qemu``)."""
    return needs_qemu(_zephyr_workspace(test))


@dataclass
class FakeExportInfo:
    """Fake: the two fields of ``workbench.export.c.ExportInfo`` that ``west_build_command`` reads,
    without exporting a model."""

    directory: str
    quantization: str


def write_fake_west(folder):
    """Fake: a ``west`` that exits 1 for every command, so the workspace check gets past "west on PATH"
    and reaches the toolchain checks. Returns the folder to put on PATH."""
    folder.mkdir()
    (folder / "west").write_text("#!/bin/sh\n# fake west (tests/test_zephyr.py)\nexit 1\n")
    (folder / "west").chmod(0o755)
    return folder


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
    fake_west_dir = write_fake_west(tmp_path / "fake-west-bin")
    env = {"ZEPHYR_BASE": str(tmp_path), "PATH": str(fake_west_dir), "HOME": str(tmp_path)}
    with pytest.raises(WorkbenchError, match=r"no toolchain for Zephyr: install the Zephyr SDK .* "
                                             r"ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb GNUARMEMB_TOOLCHAIN_PATH=/usr"):
        zephyr.find_workspace(env)
    with pytest.raises(WorkbenchError, match="needs GNUARMEMB_TOOLCHAIN_PATH"):
        zephyr.find_workspace({**env, "ZEPHYR_TOOLCHAIN_VARIANT": "gnuarmemb"})
    ws = zephyr.find_workspace({**env, "ZEPHYR_SDK_INSTALL_DIR": str(tmp_path)})
    assert (ws.version, ws.toolchain) == ("4.1.0", "zephyr")


def test_west_build_command_passes_module_and_model(tmp_path):
    ws = zephyr.Workspace(tmp_path, "west", "4.1.0", "gnuarmemb")
    info = FakeExportInfo(directory=str(tmp_path / "export"), quantization="f32")
    cmd = zephyr.west_build_command(ws, "nrf52840dk/nrf52840", info, tmp_path / "out")
    assert cmd[:8] == ["west", "build", "--no-sysbuild", "-p", "auto", "-b", "nrf52840dk/nrf52840", "-d"]
    # Paths as plain_path gives them: unchanged, or an alias where the checkout's path has a space or a comma.
    assert cmd[cmd.index("-s") + 1] == plain_path(zephyr.app_dir())
    assert f"-DZEPHYR_EXTRA_MODULES={plain_path(zephyr.module_dir())}" in cmd
    assert f"-DWB_MODEL_DIR={plain_path(tmp_path / 'export')}" in cmd and "-DWB_QUANT=f32" in cmd
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


def sysbuild_workspace_config(tmp_path) -> Path:
    """A copy of the workspace's west configuration with `west config build.sysbuild true` (the nRF
    Connect SDK's default), for WEST_CONFIG_LOCAL: the shared workspace itself is left as it is."""
    base = Path(os.environ["ZEPHYR_BASE"])
    local = next((d / ".west" / "config" for d in (base, *base.parents) if (d / ".west" / "config").is_file()), None)
    config = tmp_path / "west-config"
    config.write_text(local.read_text() if local else "")
    subprocess.run(["west", "config", "--local", "build.sysbuild", "true"], check=True,
                   env=dict(os.environ, WEST_CONFIG_LOCAL=str(config)))
    assert "sysbuild = true" in config.read_text()
    return config


@needs_zephyr
def test_zephyr_builds_for_the_nrf52840dk_also_under_sysbuild(model, tmp_path, monkeypatch):
    """With `west config build.sysbuild true` the -D options would stay with sysbuild and the image
    land in a subfolder; the backend builds with --no-sysbuild, so the build succeeds as before."""
    from workbench.pipeline import export_and_build

    monkeypatch.setenv("WEST_CONFIG_LOCAL", str(sysbuild_workspace_config(tmp_path)))
    board = load_board("nrf52840")
    built = export_and_build(model, board, "zephyr", root=tmp_path / "build")
    assert not (built.artifact.elf.parent.parent / "domains.yaml").exists()      # not a sysbuild build
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


@needs_zephyr
def test_stm32f4_disco_builds_with_its_fpu(model, tmp_path):
    """The board file says fpu = true: the build has CONFIG_FPU (and the DWT for cycle counts)."""
    from workbench.pipeline import export_and_build

    built = export_and_build(model, load_board("stm32f4_disco"), "zephyr", root=tmp_path)
    config = (built.artifact.elf.parent / ".config").read_text()
    for line in ("CONFIG_FPU=y", "CONFIG_CORTEX_M_DWT=y", "CONFIG_SHARNN=y"):
        assert line in config
    print("stm32f4_disco .config:", ", ".join(l for l in config.splitlines() if l.startswith(("CONFIG_FPU=",
                                                                                              "CONFIG_CORTEX_M_DWT="))))


# -- a fault on a board: a fault frame, then a reboot ------------------------------------------------------
GLUE = Path(__file__).parent / "fixtures" / "misbehaving_glue" / "wb_model_misbehave.c"


@pytest.fixture(scope="module")
def faulting_zephyr(model, tmp_path_factory):
    """The runner with a glue whose first inference executes an undefined instruction, built as for a
    board (no semihosting: a fault reboots)."""
    from workbench.build import zephyr as zb
    from workbench.export.c import export_c
    from workbench.pipeline import Built

    board = load_board("mps2-an386")
    root = tmp_path_factory.mktemp("zephyr-fault")
    info = export_c(model, root / "export")
    art = zb.build(board, info, root / "mps2-zephyr", extra=(f"-DWB_GLUE_SRC={GLUE}", "-DEXTRA_CFLAGS=-DWB_TEST_MODE=1",
                                                                "-DCONFIG_WB_EXIT_SEMIHOSTING=n"))
    return board, Built(model, info, art, root)


@needs_zephyr
def test_zephyr_fault_is_a_frame_then_a_reboot(faulting_zephyr, basicmotions):
    """Under QEMU: the first inference faults; the host hears a fault frame (UsageFault UNDEFINSTR,
    CFSR as the core set it) within 2 s, and the device answers HELLO again (it rebooted)."""
    import time

    from workbench.link.client import DeviceFault, DeviceLink
    from workbench.link.protocol import P
    from workbench.targets.faults import describe_fault_frame
    from workbench.targets.qemu import QemuTarget

    board, built = faulting_zephyr
    window = np.ascontiguousarray(basicmotions[1].x[0], dtype="<f4").tobytes()
    with QemuTarget(board, built.artifact.elf, use_plugin=False, workdir=built.root / "qemu") as target:
        port = target.start()
        link = DeviceLink(port, timeout=10.0, alive=target.alive)
        link.hello()
        link.write_input(window, context="window 0")
        t0 = time.monotonic()
        with pytest.raises(DeviceFault) as e:
            link.request(P.REQ_INFER, context="window 0")           # the inference that faults
        took = time.monotonic() - t0
        text = describe_fault_frame(e.value.fault, built.artifact.elf)
        print(f"fault frame {took:.3f} s after the INFER request: {text}")
        assert took < 2.0
        # Zephyr enables the UsageFault handler: no escalation to HardFault as on the bare-metal port.
        assert text.startswith("UsageFault (UsageFault: UNDEFINSTR (undefined instruction)) at pc=0x")
        assert " wb_model_infer+0x" in text and "CFSR=0x00010000" in text and "Zephyr: Arm fault code" in text
        assert link.hello().model_hash == built.model.content_hash[:16]       # rebooted: answering again
        port.close()


@needs_zephyr
def test_zephyr_fault_on_a_board_is_one_line_without_emulator(faulting_zephyr, basicmotions):
    """The same firmware behind a pty, as a board on its USB serial port: `run --port`'s message is one
    line with the fault, the function, CFSR and the reboot, and no word of an emulator (the time
    printed includes uploading the window: QEMU's UART takes ~2 KB/s here)."""
    import re
    import time

    from workbench.errors import DeviceError
    from workbench.pipeline import run_on_target, target_factory
    from workbench.targets.qemu import qemu_binary

    board, built = faulting_zephyr
    qemu = subprocess.Popen([qemu_binary(), "-M", "mps2-an386", "-cpu", "cortex-m4", "-nodefaults", "-display",
                             "none", "-monitor", "none", "-serial", "pty", "-kernel", str(built.artifact.elf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        pty = re.search(r"redirected to (/dev/pts/\d+)", qemu.stdout.readline()).group(1)
        t0 = time.monotonic()
        with pytest.raises(DeviceError) as e:
            run_on_target(target_factory(board, port=pty)(built), built, basicmotions[1].x[:1])
        took = time.monotonic() - t0
    finally:
        qemu.kill()
        qemu.wait()
    msg = str(e.value)
    print(f"run --port failed after {took:.2f} s: {msg}")
    assert "\n" not in msg and "emulator" not in msg and "QEMU" not in msg
    assert msg.startswith("device fault: UsageFault (UsageFault: UNDEFINSTR (undefined instruction)) at pc=")
    assert " wb_model_infer+0x" in msg and "CFSR=0x00010000" in msg and msg.endswith("; the device rebooted")


# -- the module's sample: raw samples in, classes out, in an application of one's own ------------------------
def _recording(path: Path, stream: np.ndarray) -> Path:
    rows = ",\n".join("{ " + ", ".join(float(v).hex() + "f" for v in row) + " }" for row in stream)
    path.write_text(f"static const float recording[][{stream.shape[1]}] = {{\n{rows}\n}};\n")
    return path


def _run_sample(elf: Path, out: Path, timeout: float = 120.0) -> list[str]:
    import time

    from workbench.targets.qemu import qemu_binary

    qemu = subprocess.Popen([qemu_binary(), "-M", "mps2-an386", "-cpu", "cortex-m4", "-nodefaults", "-display",
                             "none", "-monitor", "none", "-serial", f"file:{out}", "-kernel", str(elf)])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and "done:" not in (out.read_text() if out.exists() else ""):
            time.sleep(0.2)
    finally:
        qemu.kill()
        qemu.wait()
    return out.read_text().splitlines()


@needs_zephyr
@pytest.mark.parametrize("quant", ["f32", "q15"])
def test_sample_classifies_raw_samples_as_the_host_does(model, basicmotions, tmp_path, quant):
    """firmware/sharnn/samples/classify on mps2/an386 under QEMU: three BasicMotions test windows of
    raw float samples, end to end, brick by brick through wb_net_input() and the streaming kernel;
    every logit it prints equals the host kernel's on the host's own device inputs, bit for bit."""
    from workbench.build import zephyr as zb
    from workbench.export.c import export_c
    from workbench.pipeline import Built, host_sliding_logits, quantize, stream_of_windows

    board = load_board("mps2-an386")
    train, test = basicmotions
    qm = quantize(model, quant, train.x)
    info = export_c(model, tmp_path / "export", qm)
    raw = np.ascontiguousarray(test.x[:3], dtype=np.float32)
    rec = _recording(tmp_path / "recording.h", stream_of_windows(raw))
    art = zb.build(board, info, tmp_path / "sample", source=zb.sample_dir(), extra=(f"-DSAMPLE_RECORDING={rec}",))
    lines = _run_sample(art.elf, tmp_path / "uart.txt")
    print("\n".join(lines[:4] + ["..."] + lines[-2:]))
    kind = "float32" if quant == "f32" else "int16"
    lines = lines[next(i for i, line in enumerate(lines) if line.startswith("sharnn classify:")):]   # after the banner
    assert lines[0] == f"sharnn classify: T=100 k=10 D=6, 4 classes, {kind}"
    assert lines[-1] == "done: 30 bricks"
    printed = (re.match(r"brick (\d+): class \d+ .*logits((?: [0-9a-f]{8})+)$", line) for line in lines)
    got = {int(m.group(1)): m.group(2).split() for m in printed if m}
    built = Built(model, info, art, tmp_path, quant=qm)
    inputs = raw if qm is None else qm.quantize_inputs(raw)          # what the runner would be sent
    host = host_sliding_logits(built, stream_of_windows(inputs))
    expected = {i: [f"{v:08x}" for v in np.asarray(h).view("<u4")] for i, h in enumerate(host) if h is not None}
    assert sorted(got) == list(range(9, 30)) and got == expected


@needs_zephyr
def test_sample_builds_for_the_nrf52840dk(model, basicmotions, tmp_path):
    """The same sample, int16, for the nRF52840-DK (build only: no board here), with its synthetic sensor."""
    from workbench.build import zephyr as zb
    from workbench.export.c import export_c
    from workbench.pipeline import quantize

    info = export_c(model, tmp_path / "export", quantize(model, "q15", basicmotions[0].x))
    art = zb.build(load_board("nrf52840"), info, tmp_path / "sample", source=zb.sample_dir())
    config = (art.elf.parent / ".config").read_text()
    assert "CONFIG_SHARNN=y" in config and "CONFIG_FPU=y" in config
    assert art.memory.flash_weights == info.weight_bytes and (art.elf.parent / "zephyr.hex").is_file()
