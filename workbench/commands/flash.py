"""``workbench flash``: put the runner firmware on a real board through its debug probe."""

from __future__ import annotations

from workbench.commands.common import console, data_options, progress, quant_options


def cmd_flash(args) -> int:
    from workbench.boards import load_board
    from workbench.pipeline.flash import flash

    board = load_board(args.board)
    con = console()
    with progress() as bar:
        done = flash(board, model=args.model, firmware=args.firmware, backend=args.backend, quant=args.quant,
                     kernel_path=args.kernel, dataset=args.dataset, calibration=args.calibration,
                     breakdown=args.breakdown, probe=args.probe, runner=args.runner, progress=bar,
                     on_stage=lambda text: bar.console.print(text, highlight=False),
                     on_probe=lambda p: bar.console.print(f"debug probe: {p.label}", highlight=False))
    con.print(f"flashed {done.file} to {board.name} with {done.tool}", highlight=False)
    if args.model:
        quant = f" --quant {args.quant}" if args.quant != "f32" else ""
        port = done.port or "PORT"
        con.print(f"then: workbench run --board {board.name} --model {args.model}{quant}"
                  f"{' --breakdown' if args.breakdown else ''} --port {port}", highlight=False)
    if done.port is None and board.serial.get("wiring"):
        con.print(f"serial port: {board.serial['wiring']}", highlight=False)
    return 0


def register(sub) -> None:
    from workbench.pipeline.spec import BACKENDS

    s = sub.add_parser("flash", help="flash the runner firmware to a real board through its debug probe")
    s.add_argument("--board", required=True, help="board name or alias (one with [flashing] in its board file)")
    s.add_argument("--model", help="model file (.wbm): build the firmware for it, then flash")
    s.add_argument("--firmware", help="flash this ELF/hex with pyOCD instead")
    s.add_argument("--backend", choices=BACKENDS, help="firmware backend [the board's default]")
    s.add_argument("--probe", metavar="SERIAL",
                   help="the debug probe's serial number, when several are attached (leading zeros optional)")
    s.add_argument("--runner", help="west runner for Zephyr builds (jlink, nrfutil, nrfjprog, pyocd, openocd, "
                                    "stm32cubeprogrammer, ...) [the board file's west_runner]")
    s.add_argument("--breakdown", action="store_true",
                   help="stage checkpoints in the firmware (then workbench run --breakdown --port)")
    quant_options(s)
    data_options(s, calibration_only=True)
    s.set_defaults(func=cmd_flash)
