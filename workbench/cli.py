"""The ``workbench`` command. Thin: it parses arguments and wires the stages (see pipeline.py).

Errors a user can cause print one line on stderr and exit 2 (device trouble: 3); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench import __version__
from workbench.errors import WorkbenchError

DEMO_MODEL = {"family": "sharnn", "cells": ["gru", "gru"], "hidden": [16, 16], "k": 10}


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise WorkbenchError(f"{self.prog}: {message} (see {self.prog} --help)")


def _console():
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 110)   # logs and pipes: keep table rows on one line
    return console


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise WorkbenchError(f"expected comma-separated integers, got '{text}'") from None


# ---------------------------------------------------------------------------------------------- boards
def cmd_boards(args) -> int:
    from rich.table import Table

    from workbench.boards import DEFAULT_BOARD, all_boards

    t = Table(title="boards")
    for col in ("name", "cpu", "clock", "RAM", "flash", "counter", "backends", "emulators", "flash via"):
        t.add_column(col)
    for b in all_boards():
        name = b.name + (" (default)" if b.name == DEFAULT_BOARD else "")
        t.add_row(name, b.cpu, f"{b.clock_hz / 1e6:g} MHz", f"{b.ram_bytes // 1024} KB", f"{b.flash_bytes // 1024} KB",
                  b.cycle_counter, ", ".join(b.backends), ", ".join(b.emulators) or "-",
                  ", ".join(f"{k}" for k in b.flashing) or "-")
    _console().print(t)
    return 0


# ----------------------------------------------------------------------------------------------- train
def train_model(dataset: str, family: str, cells: list[str], hidden: list[int], k: int | None, epochs: int,
                seed: int, out: Path):
    import torch

    from workbench.data import load_dataset
    from workbench.models import build_model
    from workbench.models.modelfile import from_module, save
    from workbench.models.train import TrainConfig, accuracy, train

    tr = load_dataset(dataset, "train")
    te = load_dataset(dataset, "test")
    config = {"family": family, "cells": cells, "hidden": hidden, "window": tr.window_length,
              "input_dim": tr.num_channels, "num_classes": tr.num_classes}
    if family == "sharnn":
        config["k"] = k if k is not None else _default_k(tr.window_length)
    torch.manual_seed(seed)
    model = build_model(config)
    cfg = TrainConfig(epochs=epochs, seed=seed)
    result = train(model, tr, cfg)
    test_acc = accuracy(model, te.x, te.y)
    meta = {"dataset": tr.name, "class_names": tr.class_names, "seed": seed,
            "train": {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
                      "val_accuracy": result.val_accuracy, "train_accuracy": result.train_accuracy,
                      "test_accuracy": test_acc, "config": vars(cfg)}}
    save(from_module(model, meta), out)
    return out, test_acc


def _default_k(window: int) -> int:
    """The divisor of T nearest sqrt(T): it minimises the O(T/k + k) sequential steps."""
    divisors = [d for d in range(1, window + 1) if window % d == 0]
    return min(divisors, key=lambda d: (abs(d - window ** 0.5), d))


def cmd_train(args) -> int:
    out = Path(args.out)
    cells = args.cells.split(",")
    hidden = _int_list(args.hidden)
    levels = 2 if args.family == "sharnn" else 1
    if len(cells) == 1:
        cells = cells * levels
    if len(hidden) == 1:
        hidden = hidden * levels
    if len(cells) != levels or len(hidden) != levels:
        raise WorkbenchError(f"family {args.family} takes {levels} cell(s) and {levels} hidden size(s)")
    path, acc = train_model(args.dataset, args.family, cells, hidden, args.k, args.epochs, args.seed, out)
    _console().print(f"model written to [bold]{path}[/]; test accuracy (float, torch): {acc:.3f}")
    return 0


# ---------------------------------------------------------------------------------------- export/build
def cmd_export(args) -> int:
    from workbench.export.c import export_c
    from workbench.models.modelfile import load

    info = export_c(load(args.model), Path(args.out))
    _console().print(f"C model written to [bold]{info.directory}[/] ({info.weight_bytes} bytes of weights, "
                     f"scratch {info.scratch_len} + stream {info.stream_len} elements)")
    return 0


def cmd_build(args) -> int:
    from rich.table import Table

    from workbench.boards import load_board
    from workbench.models.modelfile import load
    from workbench.pipeline import export_and_build

    board = load_board(args.board)
    mf = load(args.model)
    with _console().status(f"building for {board.name} ({args.backend})"):
        built = export_and_build(mf, board, args.backend)
    mem = built.artifact.memory
    t = Table(title=f"{built.artifact.elf}")
    for col in ("section", "bytes", "source"):
        t.add_column(col)
    for name, v in (("flash.code", mem.flash_code), ("flash.weights", mem.flash_weights), ("ram.data", mem.ram_data),
                    ("ram.bss", mem.ram_bss), ("ram.stack_reserved", mem.ram_stack_reserved),
                    ("ram.model_state", mem.model_state)):
        t.add_row(name, str(v), "static-elf")
    _console().print(t)
    return 0


# ------------------------------------------------------------------------------------------ run / demo
def run_model(board_name: str, model_path: Path, dataset: str | None, split: str, out: Path | None, force: bool,
              stream: bool, counter: str, limit: int | None) -> tuple[dict, Path]:
    import numpy as np

    from workbench.boards import load_board
    from workbench.build.baremetal import gcc_version
    from workbench.data import load_dataset
    from workbench.models.modelfile import load
    from workbench.pipeline import (device_inputs, export_and_build, host_logits, model_summary, run_on_qemu,
                                    torch_logits)
    from workbench.profile import default_profile_path, new_profile, write_profile
    from workbench.profile.metrics import session_metrics

    board = load_board(board_name)
    mf = load(model_path)
    if out is not None and Path(out).exists() and not force:
        raise WorkbenchError(f"{out} exists; choose another --out or pass --force to replace it")
    dataset = dataset or mf.meta.get("dataset")
    if not dataset:
        raise WorkbenchError("the model file does not name its dataset: pass --dataset")
    data = load_dataset(dataset, split)
    if limit:
        data.x, data.y, data.lengths = data.x[:limit], data.y[:limit], data.lengths[:limit]
    console = _console()
    with console.status(f"building firmware for {board.name}"):
        built = export_and_build(mf, board)
    inputs = device_inputs(built.export, data)
    host = host_logits(built, inputs)
    ref = torch_logits(mf, data)
    with _progress() as progress:
        progress.console.print(f"streaming {len(inputs)} {data.name} {split} windows through QEMU "
                               f"({board.qemu['machine']})")
        session, target, target_info = run_on_qemu(board, built, inputs, stream=stream,
                                                   use_plugin=(counter == "plugin"), progress=progress)
    metrics, windows = session_metrics(session, data.y, host, ref, target.measure, built.artifact.memory,
                                       data.num_classes)
    model = model_summary(mf, built.export)
    profile = new_profile(
        board=board.name, target=target_info, backend=built.artifact.backend, model=model,
        dataset={"name": data.name, "split": split, "count": len(inputs), "class_names": data.class_names},
        metrics=metrics, windows=windows,
        tool_versions={"arm-none-eabi-gcc": gcc_version(), **target.versions(), "host-cc": _host_cc_version()},
        extra={"link": session.link, "device_stats": session.stats,
               "handshake": {k: v for k, v in vars(session.hello).items()}})
    path = write_profile(profile, out or default_profile_path(board.name, model), force=force)
    return profile, path


def _host_cc_version() -> str:
    import subprocess

    from workbench.build.host import host_compiler

    out = subprocess.run([host_compiler(), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def print_summary(profile: dict, path: Path) -> None:
    from rich.table import Table

    m = profile["metrics"]
    t = Table(title=f"{profile['model']['family']} {'/'.join(profile['model']['cells'])} "
                    f"{profile['model']['hidden']} on {profile['board']} — {profile['dataset']['name']} "
                    f"({profile['dataset']['count']} windows)")
    for col in ("metric", "value", "unit", "source"):
        t.add_column(col)
    for name, v in m.items():
        if name.startswith("confusion"):
            continue
        val = v["value"]
        if isinstance(val, float) and v["unit"].startswith("fraction"):
            val = f"{val:.3f}"
        elif isinstance(val, float):
            val = f"{val:,.4g}" if val < 1000 else f"{val:,.0f}"
        elif isinstance(val, int):
            val = f"{val:,}"
        t.add_row(name, str(val), v["unit"], v["source"])
    console = _console()
    console.print(t)
    console.print(f"profile written to [bold]{path}[/]")


def cmd_run(args) -> int:
    if args.emulator != "qemu":
        raise WorkbenchError(f"emulator '{args.emulator}' is not available in this build (have: qemu)")
    profile, path = run_model(args.board, Path(args.model), args.dataset, args.split,
                              Path(args.out) if args.out else None, args.force, not args.no_stream, args.counter,
                              args.limit)
    print_summary(profile, path)
    return 0


def cmd_demo(args) -> int:
    from workbench.paths import build_dir

    console = _console()
    model_path = build_dir() / "demo" / f"basicmotions-sharnn-gru-seed{args.seed}.wbm"
    console.rule("[bold]1/3 train ShaRNN (GRU/GRU, hidden 16/16, k=10) on BasicMotions")
    _, acc = train_model("BasicMotions", DEMO_MODEL["family"], DEMO_MODEL["cells"], DEMO_MODEL["hidden"],
                         DEMO_MODEL["k"], args.epochs, args.seed, model_path)
    console.print(f"test accuracy (float, torch): {acc:.3f}")
    console.rule(f"[bold]2/3 export, build and boot {args.board}")
    profile, path = run_model(args.board, model_path, None, "test", Path(args.out) if args.out else None, args.force,
                              True, args.counter, None)
    console.rule("[bold]3/3 profile")
    print_summary(profile, path)
    return 0


# ------------------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    from workbench.boards import DEFAULT_BOARD

    p = OneLineParser(prog="workbench", description="Train, quantize, deploy and profile recurrent time-series "
                                                    "classifiers (ShaRNN and friends) on Cortex-M4 boards.")
    p.add_argument("--version", action="version", version=f"workbench {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    s = sub.add_parser("boards", help="list the boards and what each supports")
    s.set_defaults(func=cmd_boards)

    s = sub.add_parser("train", help="train a model on a dataset and write a model file")
    s.add_argument("--dataset", default="BasicMotions", help="dataset name (UCR/UEA archive) [BasicMotions]")
    s.add_argument("--family", default="sharnn", choices=["sharnn", "rnn"], help="model family [sharnn]")
    s.add_argument("--cells", default="gru", help="cell kind(s), comma-separated: lower,upper [gru]")
    s.add_argument("--hidden", default="16", help="hidden size(s), comma-separated [16]")
    s.add_argument("--k", type=int, default=None, help="ShaRNN brick length; must divide T [divisor nearest sqrt(T)]")
    s.add_argument("--epochs", type=int, default=150, help="maximum epochs (early stopping on validation) [150]")
    s.add_argument("--seed", type=int, default=0, help="random seed [0]")
    s.add_argument("--out", required=True, help="model file to write (.wbm)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="export a model file to generated C")
    s.add_argument("model", help="model file (.wbm)")
    s.add_argument("--out", required=True, help="output folder")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("build", help="build firmware for a board and report its static memory")
    s.add_argument("--board", default=DEFAULT_BOARD, help=f"board name or alias [{DEFAULT_BOARD}]")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--backend", default="baremetal", choices=["baremetal"], help="firmware backend [baremetal]")
    s.set_defaults(func=cmd_build)

    def run_options(s):
        s.add_argument("--board", default=DEFAULT_BOARD, help=f"board name or alias [{DEFAULT_BOARD}]")
        s.add_argument("--out", help="profile to write [profiles/<time>-<board>-<model>.json]")
        s.add_argument("--force", action="store_true", help="replace --out if it exists")
        s.add_argument("--counter", default="plugin", choices=["plugin", "icount"],
                       help="QEMU cost source: exact plugin count or SysTick under -icount [plugin]")

    s = sub.add_parser("run", help="stream a dataset through a device running the model; write a profile")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--dataset", help="dataset [the one the model was trained on]")
    s.add_argument("--split", default="test", choices=["train", "test"], help="split to stream [test]")
    s.add_argument("--emulator", default="qemu", help="emulator for emulated boards [qemu]")
    s.add_argument("--no-stream", action="store_true", help="full windows only, skip the streamed (brick) pass")
    s.add_argument("--limit", type=int, help="only the first N windows")
    run_options(s)
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="the whole pipeline on BasicMotions: train, build, boot, stream, profile")
    s.add_argument("--seed", type=int, default=0, help="training seed [0]")
    s.add_argument("--epochs", type=int, default=150, help="maximum training epochs [150]")
    run_options(s)
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return args.func(args)
    except WorkbenchError as exc:
        if debug:
            raise
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
