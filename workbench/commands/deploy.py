"""``workbench deploy``: a model as files on a MicroPython board, copied with mpremote."""

from __future__ import annotations

from workbench.commands.common import calibration, console, data_options, progress, quant_option
from workbench.errors import WorkbenchError


def cmd_deploy(args) -> int:
    from workbench.boards import load_board
    from workbench.build.micropython import board_arch
    from workbench.models.modelfile import load
    from workbench.pipeline.micropython import prepare
    from workbench.targets.micropython import ReplLink, open_model

    board = load_board(args.board)
    if not board.runs_micropython:
        raise WorkbenchError(f"board {board.name} does not run MicroPython (backends: {', '.join(board.backends)})")
    # The board first, before any build work: where nothing answers the user hears it at once.
    link = ReplLink(args.port)
    try:
        arch = args.arch or board_arch(board)
        mf = load(args.model)
        prep = prepare(mf, board, arch, args.mpy_kernel, args.quant, args.micropython_dir, calibration(args, mf))
        with progress() as bar:
            bar.console.print(f"copying {len(prep.build.files)} files ({prep.build.file_bytes:,} bytes) to "
                              f"{link.url} with mpremote")
            status = link.put(prep.build.files, progress=bar)
        hello = open_model(link, prep.build.kernel)
    finally:
        link.close()
    if hello.model_hash != prep.model.content_hash[:16]:
        raise WorkbenchError(f"the device loaded model {hello.model_hash}, expected {prep.model.content_hash[:16]}")
    from rich.table import Table

    t = Table(title=f"deployed to {board.name} at {args.port} ({hello.platform}, arch {arch})")
    for col in ("file", "bytes", ""):
        t.add_column(col)
    for name, path in prep.build.files.items():
        t.add_row(name, f"{path.stat().st_size:,}", status[name])
    con = console()
    con.print(t)
    con.print(f"kernel {hello.kernel}: the model takes {hello.heap_bytes:,} bytes of heap on the device "
              f"(gc.mem_alloc; estimate was {prep.build.heap_bytes:,} of the board's "
              f"{board.backends['micropython']['heap_bytes']:,})")
    con.print("use it on the board: [bold]import wb_sharnn; m = wb_sharnn.Model(); m.infer(x, logits)[/]")
    return 0


def register(sub) -> None:
    from workbench.pipeline.micropython import KERNEL_CHOICES, MICROPYTHON_BOARD

    s = sub.add_parser("deploy", help="copy a model to a MicroPython board with mpremote")
    s.add_argument("--board", default=MICROPYTHON_BOARD, help=f"MicroPython board name or alias [{MICROPYTHON_BOARD}]")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--port", required=True, help="the board's serial port as a pyserial URL "
                                                  "(/dev/ttyACM0, socket://host:port, rfc2217://...)")
    quant_option(s)
    data_options(s, calibration_only=True)
    s.add_argument("--mpy-kernel", default="auto", choices=KERNEL_CHOICES,
                   help="kernel build to deploy [auto: natmod with a MicroPython tree, else viper]")
    s.add_argument("--arch", help="native-code architecture instead of the board's (x64 for the unix port)")
    s.add_argument("--micropython-dir", help="MicroPython source tree for the native module "
                                             "[$WORKBENCH_MICROPYTHON_DIR]")
    s.set_defaults(func=cmd_deploy)
