"""``workbench build``: firmware for a board and its static memory report."""

from __future__ import annotations

from workbench.commands.common import calibration, console, data_options, quant_options


def cmd_build(args) -> int:
    from rich.table import Table

    from workbench.boards import load_board
    from workbench.models.modelfile import load
    from workbench.pipeline.firmware import export_and_build

    board = load_board(args.board)
    mf = load(args.model)
    con = console()
    backend = args.backend or board.default_backend
    with con.status(f"building for {board.name} ({backend}, {args.quant})"):
        built = export_and_build(mf, board, backend, args.quant, kernel_path=args.kernel,
                                 calib_x=calibration(args, mf))
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
    from workbench.pipeline.spec import BACKENDS

    s = sub.add_parser("build", help="build firmware for a board and report its static memory")
    s.add_argument("--board", default=DEFAULT_BOARD, help=f"board name or alias [{DEFAULT_BOARD}]")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--backend", choices=BACKENDS,
                   help="firmware backend: bare metal, or a Zephyr app built with west in your Zephyr workspace "
                        "[bare metal where the board has a port]")
    quant_options(s)
    data_options(s, calibration_only=True)
    s.set_defaults(func=cmd_build)
