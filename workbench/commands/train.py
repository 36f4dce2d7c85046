"""``workbench train``: train a model on a dataset and write a model file."""

from __future__ import annotations

from pathlib import Path

from workbench.commands.common import console, int_list
from workbench.errors import WorkbenchError


def default_k(window: int) -> int:
    """The divisor of T nearest sqrt(T): it minimises the O(T/k + k) sequential steps."""
    divisors = [d for d in range(1, window + 1) if window % d == 0]
    return min(divisors, key=lambda d: (abs(d - window ** 0.5), d))


def train_model(dataset: str, family: str, cells: list[str], hidden: list[int], k: int | None, epochs: int,
                seed: int, out: Path) -> tuple[Path, float]:
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
        config["k"] = k if k is not None else default_k(tr.window_length)
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


def cmd_train(args) -> int:
    cells = args.cells.split(",")
    hidden = int_list(args.hidden)
    levels = 2 if args.family == "sharnn" else 1
    if len(cells) == 1:
        cells = cells * levels
    if len(hidden) == 1:
        hidden = hidden * levels
    if len(cells) != levels or len(hidden) != levels:
        raise WorkbenchError(f"family {args.family} takes {levels} cell(s) and {levels} hidden size(s)")
    if any(h < 1 for h in hidden):
        raise WorkbenchError(f"--hidden {args.hidden}: hidden sizes must be at least 1")
    if args.epochs < 1:
        raise WorkbenchError(f"--epochs {args.epochs}: give at least 1")
    path, acc = train_model(args.dataset, args.family, cells, hidden, args.k, args.epochs, args.seed, Path(args.out))
    console().print(f"model written to [bold]{path}[/]; test accuracy (float, torch): {acc:.3f}")
    return 0


def register(sub) -> None:
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
