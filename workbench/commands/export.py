"""``workbench export``: a model file as generated C (for the kernel) or as MicroPython files."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import calibration, console, data_options, quant_option
from workbench.errors import WorkbenchError


def cmd_export(args) -> int:
    from workbench.filesystem import check_writable
    from workbench.models.modelfile import load
    from workbench.pipeline.firmware import quantize

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        kind = "C" if args.target == "c" else "MicroPython"
        raise WorkbenchError(f"--out {out} is a file; export writes a folder of {kind} files")
    check_writable(out, "export into", folder=True)
    mf = load(args.model)
    qm = quantize(mf, args.quant, calibration(args, mf))
    if args.target == "micropython":
        return export_micropython(args, mf, qm, out)
    from workbench.export.c import export_c

    info = export_c(mf, out, qm)
    console().print(f"C model written to [bold]{info.directory}[/] ({info.weight_bytes} bytes of weights, "
                    f"scratch {info.scratch_len} + stream {info.stream_len} elements)")
    return 0


def export_micropython(args, mf, qm, out: Path) -> int:
    from workbench.boards import load_board
    from workbench.build import micropython as mpbuild
    from workbench.export.micropython import export_micropython as export

    board = load_board(args.board)
    arch = args.arch or mpbuild.board_arch(board)
    mpy_dir = mpbuild.micropython_dir(args.micropython_dir)
    info = export(mf, out, qm)
    built = mpbuild.build(info, arch, out / "mpy" / arch, args.mpy_kernel, mpy_dir)
    con = console()
    con.print(f"MicroPython model written to [bold]{out}[/] ({info.weight_bytes:,} bytes of {info.quantization} "
              f"weights); .mpy for {arch} in {out / 'mpy' / arch}:")
    for name, path in built.files.items():
        con.print(f"  {name:<20} {path.stat().st_size:>8,} bytes")
    if built.natmod_text_bytes is not None:
        con.print(f"native module machine code: {built.natmod_text_bytes:,} bytes ({arch})")
    elif mpy_dir is None:
        con.print(f"(no native module: point --micropython-dir or ${mpbuild.MPY_DIR_ENV} at a MicroPython tree)")
    return 0


def register(sub) -> None:
    from workbench.pipeline.micropython import KERNEL_CHOICES, MICROPYTHON_BOARD

    s = sub.add_parser("export", help="export a model file to generated C or to MicroPython files")
    s.add_argument("model", help="model file (.wbm)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--target", default="c", choices=["c", "micropython"], help="what to export for [c]")
    quant_option(s)
    data_options(s, calibration_only=True)
    s.add_argument("--board", default=MICROPYTHON_BOARD,
                   help=f"MicroPython board whose architecture the .mpy files are for [{MICROPYTHON_BOARD}]")
    s.add_argument("--arch", help="native-code architecture instead of the board's (x64 for the unix port)")
    s.add_argument("--mpy-kernel", default="all", choices=("all",) + KERNEL_CHOICES[1:],
                   help="kernel build(s) to produce [all: bytecode, viper and, with a MicroPython tree, natmod]")
    s.add_argument("--micropython-dir", help="MicroPython source tree for the native module "
                                             "[$WORKBENCH_MICROPYTHON_DIR]")
    s.set_defaults(func=cmd_export)
