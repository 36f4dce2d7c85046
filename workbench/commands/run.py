"""``workbench run`` and ``workbench demo``: stream a dataset through a device, write a profile."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import console, progress, quant_options
from workbench.commands.train import train_model
from workbench.errors import WorkbenchError

DEMO_MODEL = {"family": "sharnn", "cells": ["gru", "gru"], "hidden": [16, 16], "k": 10}


def run_model(board_name: str, model_path: Path, dataset: str | None, split: str, out: Path | None, force: bool,
              stream: bool, counter: str, limit: int | None, *, quant: str = "f32", kernel_path: str = "dsp",
              sliding: bool = False, options=None, fault_link: str | None = None,
              link_timeout: float | None = None, backend: str | None = None, emulator: str | None = None,
              port: str | None = None, renode: str | None = None) -> tuple[dict, Path]:
    from workbench.boards import load_board
    from workbench.data import load_dataset
    from workbench.models.modelfile import load
    from workbench.pipeline import BuildOptions, model_windows, profile_model
    from workbench.profile import default_profile_path, write_profile

    faults = link_options(fault_link, link_timeout, limit)
    board = load_board(board_name)
    mf = load(model_path)
    if out is not None and Path(out).exists() and not force:
        raise WorkbenchError(f"{out} exists; choose another --out or pass --force to replace it")
    if out is not None and Path(out).is_dir():
        raise WorkbenchError(f"--out {out} is a folder; give the profile's file name")
    if out is not None and any(p.exists() and not p.is_dir() for p in Path(out).absolute().parents):
        raise WorkbenchError(f"--out {out}: a parent of it is a file, not a folder")
    dataset = dataset or mf.meta.get("dataset")
    if not dataset:
        raise WorkbenchError("the model file does not name its dataset: pass --dataset")
    data = model_windows(mf, load_dataset(dataset, split))
    if limit:
        data.x, data.y, data.lengths = data.x[:limit], data.y[:limit], data.lengths[:limit]
    with progress() as bar:
        profile = profile_model(mf, board, data, split, counter=counter, stream=stream, quant=quant,
                                kernel_path=kernel_path, sliding=sliding, options=options or BuildOptions(),
                                backend=backend, emulator=emulator, port=port, renode=renode,
                                progress=bar, on_stage=bar.console.print, fault_link=faults,
                                link_timeout=link_timeout)
    path = write_profile(profile, out or default_profile_path(board.name, profile["model"]), force=force)
    return profile, path


def link_options(fault_link: str | None, link_timeout: float | None, limit: int | None):
    """Check the link options before anything slow runs; the parsed FaultSpec or None."""
    from workbench.link.faulty import FaultSpec

    if link_timeout is not None and not 0.1 <= link_timeout <= 3600:
        raise WorkbenchError(f"--link-timeout {link_timeout:g}: give seconds between 0.1 and 3600")
    if limit is not None and limit < 1:
        raise WorkbenchError(f"--limit {limit}: give a number of windows of at least 1")
    return FaultSpec.parse(fault_link) if fault_link else None


def print_summary(profile: dict, path: Path) -> None:
    from workbench.profile.show import breakdown_table, metrics_table

    con = console()
    breakdown = breakdown_table(profile)
    con.print(metrics_table(profile, stages=breakdown is None))
    if breakdown is not None:
        con.print(breakdown)
    con.print(f"profile written to [bold]{path}[/]")


def cmd_run(args) -> int:
    from workbench.boards import load_board

    board = load_board(args.board)
    if "micropython" in board.backends:
        from workbench.commands.deploy import run_micropython

        print_summary(*run_micropython(board, args))
        return 0
    from workbench.pipeline import BuildOptions

    profile, path = run_model(args.board, Path(args.model), args.dataset, args.split,
                              Path(args.out) if args.out else None, args.force, not args.no_stream, args.counter,
                              args.limit, quant=args.quant, kernel_path=args.kernel, sliding=args.sliding,
                              options=BuildOptions(args.opt, args.cflags, args.link, args.breakdown),
                              fault_link=args.fault_link,
                              link_timeout=args.link_timeout, backend=args.backend, emulator=args.emulator,
                              port=args.port, renode=args.renode)
    print_summary(profile, path)
    return 0


def cmd_demo(args) -> int:
    from workbench.paths import build_dir

    con = console()
    link_options(args.fault_link, args.link_timeout, None)
    if args.epochs < 1:
        raise WorkbenchError(f"--epochs {args.epochs}: give at least 1")
    model_path = build_dir() / "demo" / f"basicmotions-sharnn-gru-seed{args.seed}.wbm"
    con.rule("[bold]1/3 train ShaRNN (GRU/GRU, hidden 16/16, k=10) on BasicMotions")
    _, acc = train_model("BasicMotions", DEMO_MODEL["family"], DEMO_MODEL["cells"], DEMO_MODEL["hidden"],
                         DEMO_MODEL["k"], args.epochs, args.seed, model_path)
    con.print(f"test accuracy (float, torch): {acc:.3f}")
    con.rule(f"[bold]2/3 export, build and boot {args.board}")
    profile, path = run_model(args.board, model_path, None, "test", Path(args.out) if args.out else None, args.force,
                              True, args.counter, None, quant=args.quant, kernel_path=args.kernel,
                              fault_link=args.fault_link, link_timeout=args.link_timeout)
    con.rule("[bold]3/3 profile")
    print_summary(profile, path)
    return 0


def register(sub) -> None:
    from workbench.boards import DEFAULT_BOARD
    from workbench.commands.deploy import add_run_options
    from workbench.targets import LINKS

    def run_options(s):
        s.add_argument("--board", default=DEFAULT_BOARD, help=f"board name or alias [{DEFAULT_BOARD}]")
        s.add_argument("--out", help="profile to write [profiles/<time>-<board>-<model>.json]")
        s.add_argument("--force", action="store_true", help="replace --out if it exists")
        s.add_argument("--counter", default="plugin", choices=["plugin", "icount"],
                       help="QEMU cost source: exact plugin count or SysTick under -icount [plugin]")
        s.add_argument("--fault-link", metavar="SPEC",
                       help="damage the serial line on purpose, e.g. drop=0.01,flip=0.01,dup=0.01,seed=1 "
                            "(per-byte rates; also delay=, delay_ms=, to=device|host)")
        s.add_argument("--link-timeout", type=float, metavar="S",
                       help="seconds to wait for a valid answer to any one request before failing [10]")

    s = sub.add_parser("run", help="stream a dataset through a device running the model; write a profile")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--dataset", help="dataset [the one the model was trained on]")
    s.add_argument("--split", default="test", choices=["train", "test"], help="split to stream [test]")
    s.add_argument("--emulator", choices=["qemu", "renode"], help="emulator to run the firmware in [the board's first]")
    s.add_argument("--renode", help="Renode to run (binary or Renode.exe) [$RENODE, else renode on PATH]")
    s.add_argument("--port", nargs="?", const="auto",
                   help="run on the real board at this serial port (--port alone: find it by the USB ids of its "
                        "board file); flash it first with workbench flash")
    s.add_argument("--backend", choices=["baremetal", "zephyr"], help="firmware backend [the board's default]")
    s.add_argument("--no-stream", action="store_true", help="full windows only, skip the streamed (brick) pass")
    s.add_argument("--limit", type=int, help="only the first N windows")
    s.add_argument("--sliding", action="store_true",
                   help="also push the windows end to end brick by brick (a sliding stream, windows slide by k)")
    quant_options(s)
    s.add_argument("--opt", default="-O2", help="firmware optimisation flag, e.g. --opt=-O1 [-O2]")
    s.add_argument("--cflags", default="", help="extra firmware compiler flags, e.g. --cflags=-fno-inline (recorded in the "
                                                "profile)")
    s.add_argument("--link", default="uart", choices=LINKS,
                   help="byte link to a QEMU board: uart (the board's UART, as on hardware; QEMU's model moves "
                        "~20 KiB/s) or semihost (the same protocol frames through QEMU semihosting: a keyword "
                        "window in 0.034 s instead of 0.64 s, for whole-test-set checks; bare metal only) "
                        "[uart]")
    s.add_argument("--breakdown", action="store_true",
                   help="stage checkpoints in the firmware (boards, Renode): the cycles of each stage (lower, upper, "
                        "head, io, other) and of the checkpoints themselves; QEMU gives the stages without them")
    run_options(s)
    add_run_options(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="the whole pipeline on BasicMotions: train, build, boot, stream, profile")
    s.add_argument("--seed", type=int, default=0, help="training seed [0]")
    s.add_argument("--epochs", type=int, default=150, help="maximum training epochs [150]")
    quant_options(s)
    run_options(s)
    s.set_defaults(func=cmd_demo)
