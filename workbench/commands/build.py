"""``workbench export`` and ``workbench build``."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import console, quant_options
from workbench.errors import WorkbenchError


def cmd_export(args) -> int:
    if args.target == "micropython":
        from workbench.commands.deploy import cmd_export_micropython

        return cmd_export_micropython(args)
    from workbench.export.c import export_c
    from workbench.models.modelfile import load
    from workbench.pipeline import quantize

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"--out {out} is a file; export writes a folder of C files")
    mf = load(args.model)
    info = export_c(mf, out, quantize(mf, args.quant))
    console().print(f"C model written to [bold]{info.directory}[/] ({info.weight_bytes} bytes of weights, "
                    f"scratch {info.scratch_len} + stream {info.stream_len} elements)")
    return 0


def cmd_build(args) -> int:
    from rich.table import Table

    from workbench.boards import load_board
    from workbench.models.modelfile import load
    from workbench.pipeline import export_and_build

    board = load_board(args.board)
    mf = load(args.model)
    con = console()
    backend = args.backend or board.default_backend
    with con.status(f"building for {board.name} ({backend}, {args.quant})"):
        built = export_and_build(mf, board, backend, args.quant, kernel_path=args.kernel)
    mem = built.artifact.memory
    t = Table(title=f"{built.artifact.elf}")
    for col in ("section", "bytes", "source"):
        t.add_column(col)
    for name, v in (("flash.code", mem.flash_code), ("flash.weights", mem.flash_weights), ("ram.data", mem.ram_data),
                    ("ram.bss", mem.ram_bss), ("ram.stack_reserved", mem.ram_stack_reserved),
                    ("ram.model_state", mem.model_state)):
        t.add_row(name, str(v), "static-elf")
    con.print(t)
    return 0


def register(sub) -> None:
    from workbench.boards import DEFAULT_BOARD
    from workbench.commands.deploy import add_export_options

    s = sub.add_parser("export", help="export a model file to generated C or to MicroPython files")
    s.add_argument("model", help="model file (.wbm)")
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--target", default="c", choices=["c", "micropython"], help="what to export for [c]")
    s.add_argument("--quant", default="f32", choices=["f32", "q15"], help="float32 or the int16 plan [f32]")
    add_export_options(s)
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("build", help="build firmware for a board and report its static memory")
    s.add_argument("--board", default=DEFAULT_BOARD, help=f"board name or alias [{DEFAULT_BOARD}]")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--backend", choices=["baremetal", "zephyr"],
                   help="firmware backend: bare metal, or a Zephyr app built with west in your Zephyr workspace "
                        "[bare metal where the board has a port]")
    quant_options(s)
    s.set_defaults(func=cmd_build)
