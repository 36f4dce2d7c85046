"""``workbench flash``: put the runner firmware on a real board through its debug probe."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import calibration, console, data_options, progress, quant_options
from workbench.errors import WorkbenchError


def cmd_flash(args) -> int:
    from workbench.boards import load_board
    from workbench.targets import probe as probes

    board = load_board(args.board)
    if not board.flashing:
        raise WorkbenchError(f"board {board.name} is not flashed by workbench (it runs on: "
                             f"{', '.join(board.emulators) or 'nothing'})")
    for given in (args.model, args.firmware):
        if given and not Path(given).is_file():
            raise WorkbenchError(f"{given} not found")
    probe = probes.require_probe()       # first: no probe is known in a second, before any build
    con = console()
    con.print(f"debug probe: {probe.name} {probe.serial}".rstrip())
    if args.firmware:
        with progress() as bar:
            probes.pyocd_flash(board, Path(args.firmware), probe, bar)
        con.print(f"flashed {args.firmware} to {board.name}")
        return 0
    if not args.model:
        raise WorkbenchError("nothing to flash: pass --model m.wbm (built first) or --firmware FILE (ELF/hex)")
    from workbench.models.modelfile import load
    from workbench.pipeline import BuildOptions, export_and_build

    backend = args.backend or board.default_backend
    mf = load(args.model)
    with con.status(f"building for {board.name} ({backend}, {args.quant})"):
        built = export_and_build(mf, board, backend, args.quant, kernel_path=args.kernel,
                                 calib_x=calibration(args, mf), options=BuildOptions(breakdown=args.breakdown))
    with progress() as bar:
        if backend == "zephyr":
            probes.west_flash(board, Path(built.artifact.extra["build_dir"]), probe, built.artifact.extra, bar)
        else:
            probes.pyocd_flash(board, built.artifact.elf, probe, bar)
    quant = f" --quant {args.quant}" if args.quant != "f32" else ""
    con.print(f"flashed {built.artifact.elf} to {board.name}; then: workbench run --board {board.name} "
              f"--model {args.model}{quant}{' --breakdown' if args.breakdown else ''} --port")
    return 0


def register(sub) -> None:
    from workbench.pipeline.spec import BACKENDS

    s = sub.add_parser("flash", help="flash the runner firmware to a real board through its debug probe")
    s.add_argument("--board", required=True, help="board name or alias (one with [flashing] in its board file)")
    s.add_argument("--model", help="model file (.wbm): build the firmware for it, then flash")
    s.add_argument("--firmware", help="flash this ELF/hex with pyOCD instead")
    s.add_argument("--backend", choices=BACKENDS, help="firmware backend [the board's default]")
    s.add_argument("--breakdown", action="store_true",
                   help="stage checkpoints in the firmware (then workbench run --breakdown --port)")
    quant_options(s)
    data_options(s, calibration_only=True)
    s.set_defaults(func=cmd_flash)
