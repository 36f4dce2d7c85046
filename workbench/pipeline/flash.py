"""Flash a real board: find its debug probe (first, so a missing probe is known in a second, before
any build), build the runner firmware for a model (or take a given ELF/hex), program it with west
or pyOCD, and find the serial port on the probe's own USB device (the port `run --port` will use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError


@dataclass
class Flashed:
    board: str
    probe: str               # "SEGGER J-Link 000683123456"
    file: Path               # what was programmed
    tool: str                # "west flash (jlink)" | "pyOCD"
    port: str | None         # the board's serial port on the probe's USB device, if it has one


def check_flash(board, model: str | None, firmware: str | None) -> None:
    """What is wrong before any probe is looked for."""
    if not board.flashing:
        raise WorkbenchError(f"board {board.name} is not flashed by workbench (it runs on: "
                             f"{', '.join(board.emulators) or 'nothing'})")
    for given in (model, firmware):
        if given and not Path(given).is_file():
            raise WorkbenchError(f"{given} not found")


def flash(board, *, model: str | None = None, firmware: str | None = None, backend: str | None = None,
          quant: str = "f32", kernel_path: str = "dsp", dataset: str | None = None, calibration: str | None = None,
          breakdown: bool = False, probe: str | None = None, runner: str | None = None, progress, on_stage=None,
          on_probe=None) -> Flashed:
    """Flash ``firmware`` (pyOCD) or the runner built for ``model`` onto ``board``. ``dataset`` /
    ``calibration``: where an int16 plan's calibration data is (as ``run`` takes them); ``breakdown``:
    stage checkpoints in the firmware (``run --breakdown``); ``probe``: the
    serial of the probe to use when several are attached; ``runner``: a west runner other than the
    board file's. ``progress``: a rich Progress (west's lines and pyOCD's bar go there);
    ``on_probe(probe)`` hears which probe was chosen, ``on_stage(text)`` what runs."""
    from workbench.targets import probe as probes
    from workbench.targets.hardware import port_of_probe

    stage = on_stage or (lambda text: None)
    check_flash(board, model, firmware)
    chosen = probes.require_probe(board, probe)
    if on_probe:
        on_probe(chosen)
    if firmware:
        probes.pyocd_flash(board, Path(firmware), chosen, progress)
        return Flashed(board.name, chosen.label, Path(firmware), "pyOCD", port_of_probe(board, chosen))
    if not model:
        raise WorkbenchError("nothing to flash: pass --model m.wbm (built first) or --firmware FILE (ELF/hex)")
    from workbench.models.modelfile import load
    from workbench.pipeline.firmware import calibration_windows, export_and_build
    from workbench.pipeline.spec import BuildOptions

    backend = backend or board.default_backend
    if backend == "zephyr":
        probes.west_runner(board, runner)          # a board without a runner fails before the build
    mf = load(model)
    calib_x = None if quant == "f32" else calibration_windows(mf, dataset, calibration, model=model)
    stage(f"building for {board.name} ({backend}, {quant})")
    built = export_and_build(mf, board, backend, quant, kernel_path=kernel_path, calib_x=calib_x,
                             options=BuildOptions(breakdown=breakdown))
    if backend == "zephyr":
        used = probes.west_runner(board, runner)
        probes.west_flash(board, Path(built.artifact.extra["build_dir"]), chosen, built.artifact.extra, progress,
                          runner=used)
        tool = f"west flash ({used})"
    else:
        probes.pyocd_flash(board, built.artifact.elf, chosen, progress)
        tool = "pyOCD"
    return Flashed(board.name, chosen.label, built.artifact.elf, tool, port_of_probe(board, chosen))
