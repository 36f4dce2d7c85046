"""``workbench run`` and ``workbench demo``: stream a dataset through a device, write a profile."""

from __future__ import annotations

from workbench.commands.common import console, finite_float, progress, quant_options
from workbench.errors import WorkbenchError


def spec_from_args(args, **overrides):
    """The RunSpec of ``workbench run``/``demo``'s arguments (those a command lacks take their defaults)."""
    from workbench.pipeline.spec import BuildOptions, RunSpec

    def arg(name, default=None):
        return getattr(args, name, default)

    fields = dict(model=arg("model"), board=args.board, dataset=arg("dataset"), calibration=arg("calibration"),
                  split=arg("split", "test"),
                  limit=arg("limit"), out=args.out, force=args.force, stream=not arg("no_stream", False),
                  sliding=arg("sliding", False), quant=args.quant, kernel_path=args.kernel, backend=arg("backend"),
                  emulator=arg("emulator"), port=arg("port"), renode=arg("renode"), counter=args.counter,
                  build=BuildOptions(arg("opt", "-O2"), arg("cflags", ""), arg("link", "uart"), arg("cores", 1),
                                     arg("breakdown", False)),
                  fault_link=args.fault_link, link_timeout=args.link_timeout,
                  mpy_kernel=arg("mpy_kernel", "auto"), micropython_dir=arg("micropython_dir"))
    return RunSpec(**{**fields, **overrides})


def run_and_print(spec) -> int:
    from workbench.pipeline.run import run
    from workbench.profile.show import breakdown_table, metrics_table

    with progress() as bar:
        profile, path = run(spec, progress=bar, on_stage=bar.console.print)
    con = console()
    breakdown = breakdown_table(profile)
    con.print(metrics_table(profile, stages=breakdown is None))
    if breakdown is not None:
        con.print(breakdown)
    con.print(f"profile written to [bold]{path}[/]")
    return 0


def cmd_run(args) -> int:
    return run_and_print(spec_from_args(args))


def cmd_demo(args) -> int:
    from workbench.pipeline.training import demo_model_path, train_demo_model

    spec = spec_from_args(args, model=demo_model_path(args.seed))
    spec.check()
    if args.epochs < 1:
        raise WorkbenchError(f"--epochs {args.epochs}: give at least 1")
    con = console()
    con.rule("[bold]1/3 train ShaRNN (GRU/GRU, hidden 16/16, k=10) on BasicMotions")
    with progress() as bar:
        _, acc = train_demo_model(args.seed, args.epochs, progress=bar)
    con.print(f"test accuracy (float, torch): {acc:.3f}")
    con.rule(f"[bold]2/3 export, build and boot {args.board}")
    return run_and_print(spec)


def register(sub) -> None:
    from workbench.boards import DEFAULT_BOARD
    from workbench.pipeline.micropython import KERNEL_CHOICES
    from workbench.pipeline.spec import BACKENDS, COUNTERS, EMULATORS, SPLITS
    from workbench.pipeline.training import DEMO_EPOCHS
    from workbench.targets import LINKS

    def run_options(s):
        s.add_argument("--board", default=DEFAULT_BOARD, help=f"board name or alias [{DEFAULT_BOARD}]")
        s.add_argument("--out", help="profile to write [profiles/<time>-<board>-<model>.json]")
        s.add_argument("--force", action="store_true", help="replace --out if it exists")
        s.add_argument("--counter", default="plugin", choices=COUNTERS,
                       help="QEMU cost source: exact plugin count or SysTick under -icount [plugin]")
        s.add_argument("--fault-link", metavar="SPEC",
                       help="damage the serial line on purpose, e.g. drop=0.01,flip=0.01,dup=0.01,seed=1 "
                            "(per-byte rates; also delay=, delay_ms=, to=device|host)")
        s.add_argument("--link-timeout", type=finite_float, metavar="S",
                       help="seconds to wait for a valid answer to any one request before failing [10]")
        quant_options(s)

    s = sub.add_parser("run", help="stream a dataset through a device running the model; write a profile")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--dataset", help="dataset: a name, a .npz/.csv file or a folder of WAV files per class [the one "
                                     "the model file records, found by its path and sha256]")
    s.add_argument("--calibration", metavar="DATA",
                   help="--quant q15: calibrate the int16 plan on this data set's training split [the model's "
                        "training data]")
    s.add_argument("--split", default="test", choices=SPLITS, help="split to stream [test]")
    s.add_argument("--emulator", choices=EMULATORS, help="emulator to run the firmware in [the board's first]")
    s.add_argument("--renode", help="Renode to run (binary or Renode.exe) [$RENODE, else renode on PATH]")
    s.add_argument("--port", nargs="?", const="auto",
                   help="run on the real board at this serial port (--port alone: find it by the USB ids of its "
                        "board file; flash it first with workbench flash); MicroPython boards: the board's "
                        "pyserial URL [none: the MicroPython unix port stands in for the board]")
    s.add_argument("--backend", choices=BACKENDS, help="firmware backend [the board's default]")
    s.add_argument("--no-stream", action="store_true", help="full windows only, skip the streamed (brick) pass")
    s.add_argument("--limit", type=int, help="only N windows, spread over the classes [all]")
    s.add_argument("--sliding", action="store_true",
                   help="also push the windows end to end brick by brick (a sliding stream, windows slide by k)")
    s.add_argument("--opt", default="-O2", help="firmware optimisation flag, e.g. --opt=-O1 [-O2]")
    s.add_argument("--cflags", default="", help="extra firmware compiler flags, e.g. --cflags=-fno-inline (recorded "
                                                "in the profile)")
    s.add_argument("--link", default="uart", choices=LINKS,
                   help="byte link to a QEMU board: uart (the board's UART, as on hardware; QEMU's model moves "
                        "~20 KiB/s) or semihost (the same protocol frames through QEMU semihosting, for "
                        "whole-test-set checks; bare metal only) [uart]")
    s.add_argument("--mpy-kernel", default="auto", choices=KERNEL_CHOICES,
                   help="MicroPython boards: kernel build [auto: natmod with a MicroPython tree, else viper]")
    s.add_argument("--micropython-dir", help="MicroPython source tree for the native module "
                                             "[$WORKBENCH_MICROPYTHON_DIR]")
    s.add_argument("--cores", type=int, default=1, choices=[1, 2],
                   help="cores of a two-core board (e.g. mps2-an521) a ShaRNN window runs on: 2 splits its "
                        "lower-level bricks across both; the cost is then the critical path, each core's count "
                        "beside it [1]")
    s.add_argument("--breakdown", action="store_true",
                   help="stage checkpoints in the firmware (boards, Renode): the cycles of each stage (lower, upper, "
                        "head, io, other) and of the checkpoints themselves; QEMU gives the stages without them")
    run_options(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="the whole pipeline on BasicMotions: train, build, boot, stream, profile")
    s.add_argument("--seed", type=int, default=0, help="training seed [0]")
    s.add_argument("--epochs", type=int, default=DEMO_EPOCHS, help=f"maximum training epochs [{DEMO_EPOCHS}]")
    run_options(s)
    s.set_defaults(func=cmd_demo)
