"""``workbench train``: train a model on a dataset and write a model file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from workbench.commands.common import console, int_list
from workbench.errors import WorkbenchError

FAMILIES = {"sharnn": 2, "rnn": 1}   # family -> levels (cells, hidden sizes)


def default_k(window: int) -> int:
    """The divisor of T nearest sqrt(T): it minimises the O(T/k + k) sequential steps."""
    divisors = [d for d in range(1, window + 1) if window % d == 0]
    return min(divisors, key=lambda d: (abs(d - window ** 0.5), d))


def parse_cell_options(text: str | None, levels: int) -> list[dict]:
    """``"w_rank=4,u_rank=4"`` (every level) or ``"w_rank=4;layers=2"`` (lower;upper) -> one dict per level."""
    if not text:
        return [{} for _ in range(levels)]
    parts = text.split(";")
    if len(parts) == 1:
        parts = parts * levels
    if len(parts) != levels:
        raise WorkbenchError(f"--cell-options: {len(parts)} levels given, the model has {levels}")
    out = []
    for part in parts:
        opts = {}
        for item in filter(None, (s.strip() for s in part.split(","))):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise WorkbenchError(f"--cell-options: expected key=value, got '{item}'")
            opts[key.strip()] = _option_value(value.strip())
        out.append(opts)
    return out


def _option_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def train_model(dataset: str, family: str, cells: list[str], hidden: list[int], k: int | None, epochs: int,
                seed: int, out: Path, *, cell_options: list[dict] | None = None, window: int | None = None,
                progress=None, **train_options) -> tuple[Path, float]:
    """Train one model and write its file; returns (path, test accuracy). ``train_options`` override
    ``TrainConfig`` fields (patience, val_fraction, lr, ...); ``progress`` is a rich Progress to report
    to (``None``: the training loop shows its own bar)."""
    import torch

    from workbench.data import load_dataset
    from workbench.models import build_model
    from workbench.models.modelfile import from_module, save
    from workbench.models.train import TrainConfig, accuracy, align_to_window, train

    if family not in FAMILIES:
        raise WorkbenchError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    tr = load_dataset(dataset, "train")
    te = load_dataset(dataset, "test")
    if window is not None:
        tr, te = align_to_window(tr, window), align_to_window(te, window)
    config = {"family": family, "cells": cells, "hidden": hidden, "window": tr.window_length,
              "input_dim": tr.num_channels, "num_classes": tr.num_classes}
    if cell_options and any(cell_options):
        config["cell_options"] = cell_options
    if family == "sharnn":
        config["k"] = k if k is not None else default_k(tr.window_length)
    if te.window_length != tr.window_length or te.num_channels != tr.num_channels:
        raise WorkbenchError(f"dataset {dataset}: test windows {te.x.shape[1:]} differ from training windows "
                             f"{tr.x.shape[1:]}")
    torch.manual_seed(seed)
    model = build_model(config)
    cfg = TrainConfig(epochs=epochs, seed=seed, **train_options)
    started = time.perf_counter()
    result = train(model, tr, cfg, progress=progress)
    seconds = round(time.perf_counter() - started, 1)
    test_acc = accuracy(model, te.x, te.y)
    meta = {"dataset": tr.name, "class_names": tr.class_names, "seed": seed,
            "train": {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "refit": result.refit,
                      "val_accuracy": result.val_accuracy, "val_loss": result.val_loss,
                      "train_accuracy": result.train_accuracy, "test_accuracy": test_acc, "config": vars(cfg),
                      "seconds": seconds}}
    if window is not None:
        meta["window_prep"] = {"window": window, "align": "end", "pad": "zeros in front"}
    save(from_module(model, meta), out)
    return out, test_acc


def import_edgeml(dataset: str, state_path: Path, k: int | None, out: Path, raw_input: bool) -> tuple[Path, float]:
    """Write a model file from an EdgeML SRNN2 state dict (no training); returns (path, test accuracy)."""
    from workbench.data import load_dataset
    from workbench.models.edgeml import cell_type_of, from_srnn2_state_dict, load_state_dict_file
    from workbench.models.modelfile import from_module, save
    from workbench.models.train import accuracy

    sd = load_state_dict_file(state_path)
    cell_type = cell_type_of(sd)
    tr, te = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    k = k if k is not None else default_k(tr.window_length)
    mean = std = None
    if not raw_input:   # what EdgeML's SRNN examples do before calling SRNN2: per-feature train statistics
        flat = tr.x.reshape(-1, tr.num_channels).astype("float64")
        mean, std = flat.mean(axis=0), flat.std(axis=0)
        std[std < 1e-6] = 1.0
    model = from_srnn2_state_dict(sd, cell_type, k, tr.window_length, mean, std)
    if model.cell1.input_size != tr.num_channels or model.fc.out_features != tr.num_classes:
        raise WorkbenchError(f"{state_path}: SRNN2 takes {model.cell1.input_size} features and has "
                             f"{model.fc.out_features} classes; dataset {dataset} has {tr.num_channels} and "
                             f"{tr.num_classes}")
    test_acc = accuracy(model, te.x, te.y)
    meta = {"dataset": tr.name, "class_names": tr.class_names,
            "source": {"edgeml_srnn2": str(state_path), "cellType": cell_type,
                       "input": "raw" if raw_input else "standardised with training mean/std"},
            "train": {"test_accuracy": test_acc}}
    save(from_module(model, meta), out)
    return out, test_acc


def cmd_train(args) -> int:
    if args.from_edgeml:
        path, acc = import_edgeml(args.dataset, Path(args.from_edgeml), args.k, Path(args.out), args.edgeml_raw_input)
        console().print(f"EdgeML SRNN2 imported to [bold]{path}[/]; test accuracy (float, torch): {acc:.3f}")
        return 0
    levels = FAMILIES.get(args.family)
    if levels is None:
        raise WorkbenchError(f"unknown model family {args.family!r}; known: {', '.join(FAMILIES)}")
    cells = [c.strip().lower() for c in args.cells.split(",")]
    hidden = int_list(args.hidden)
    if len(cells) == 1:
        cells = cells * levels
    if len(hidden) == 1:
        hidden = hidden * levels
    if len(cells) != levels or len(hidden) != levels:
        raise WorkbenchError(f"family {args.family} takes {levels} cell(s) and {levels} hidden size(s)")
    if any(h < 1 for h in hidden):
        raise WorkbenchError(f"--hidden {args.hidden}: hidden sizes must be at least 1")
    from workbench.models.trainconfig import DATASET_TRAINING, TrainConfig

    given = {"epochs": args.epochs, "patience": args.patience, "val_fraction": args.val_fraction, "lr": args.lr,
             "batch_size": args.batch_size, "weight_decay": args.weight_decay, "refit": args.refit,
             "augment": args.augment, "shift": args.shift, "mask_channels": args.mask_channels,
             "mask_steps": args.mask_steps}
    options = {**DATASET_TRAINING.get(args.dataset, {}), **{k: v for k, v in given.items() if v is not None}}
    for name in ("epochs", "patience", "batch_size"):
        if name in options and options[name] < 1:
            raise WorkbenchError(f"--{name.replace('_', '-')} {options[name]}: give at least 1")
    for name in ("lr", "weight_decay", "augment", "mask_channels", "mask_steps"):
        if name in options and options[name] < 0:
            raise WorkbenchError(f"--{name.replace('_', '-')} {options[name]}: must not be negative")
    if not 0.0 <= options.get("val_fraction", 0.0) < 1.0:
        raise WorkbenchError(f"--val-fraction must lie in [0, 1), got {options['val_fraction']}")
    if not 0.0 <= options.get("shift", 0.0) <= 1.0:
        raise WorkbenchError(f"--shift must lie in [0, 1], got {options['shift']}")
    epochs = options.pop("epochs", TrainConfig().epochs)
    path, acc = train_model(args.dataset, args.family, cells, hidden, args.k, epochs, args.seed, Path(args.out),
                            cell_options=parse_cell_options(args.cell_options, levels), window=args.window,
                            **options)
    console().print(f"model written to [bold]{path}[/]; test accuracy (float, torch): {acc:.3f}")
    return 0


def register(sub) -> None:
    from workbench.models.trainconfig import TrainConfig

    d = TrainConfig()
    s = sub.add_parser("train", help="train a model on a dataset and write a model file",
                       description="Train a ShaRNN or a single-level RNN (cells: lstm, gru, fastgrnn, mingru, "
                                   "minlstm, durnn) with early stopping on a stratified validation split. "
                                   "Known datasets bring their own training settings (DATASET_TRAINING in "
                                   "workbench/models/trainconfig.py: BasicMotions --shift 1; keywords "
                                   "SpecAugment, 120 epochs, batch 64, lr 5e-3); options given here override them; "
                                   "[defaults] are TrainConfig's.")
    s.add_argument("--dataset", default="BasicMotions",
                   help="dataset name (UCR/UEA archive, keywords, ...) or a .npz/.csv file [BasicMotions]")
    s.add_argument("--family", default="sharnn", help="model family: sharnn (two levels) or rnn (one) [sharnn]")
    s.add_argument("--cells", default="gru", help="cell kind(s), comma-separated: lower,upper [gru]")
    s.add_argument("--hidden", default="16", help="hidden size(s), comma-separated [16]")
    s.add_argument("--cell-options", default=None,
                   help="cell options key=value[,key=value] for every level, or lower;upper "
                        "(fastgrnn: w_rank, u_rank; durnn: layers, short_size, short_radius, long_activation)")
    s.add_argument("--k", type=int, default=None, help="ShaRNN brick length; must divide T [divisor nearest sqrt(T)]")
    s.add_argument("--window", type=int, default=None,
                   help="re-align uneven series to end at step N (zeros in front), e.g. 30 for JapaneseVowels")
    s.add_argument("--epochs", type=int, default=None, help=f"maximum epochs [{d.epochs}]")
    s.add_argument("--patience", type=int, default=None,
                   help=f"early stopping: epochs without a better validation loss [{d.patience}]")
    s.add_argument("--val-fraction", type=float, default=None,
                   help=f"fraction of every class held out for early stopping [{d.val_fraction}]")
    s.add_argument("--lr", type=float, default=None, help=f"Adam learning rate [{d.lr}]")
    s.add_argument("--batch-size", type=int, default=None, help=f"batch size [{d.batch_size}]")
    s.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="after early stopping, retrain on every training window for the chosen number of epochs "
                        f"(doubles the time; pays on small sets) [{'on' if d.refit else 'off'}]")
    s.add_argument("--shift", type=float, default=None,
                   help="augmentation: random circular time shift up to this fraction of the window, for data "
                        f"whose label does not depend on where in the window things happen (activity) [{d.shift}]")
    s.add_argument("--weight-decay", type=float, default=None, help=f"Adam weight decay (L2) [{d.weight_decay}]")
    s.add_argument("--augment", type=float, default=None,
                   help=f"augmentation: per-window gain and per-step jitter of this relative size [{d.augment}]")
    s.add_argument("--mask-channels", type=int, default=None,
                   help=f"augmentation (SpecAugment): mask a band of up to N adjacent channels [{d.mask_channels}]")
    s.add_argument("--mask-steps", type=int, default=None,
                   help=f"augmentation (SpecAugment): mask two spans of up to N steps [{d.mask_steps}]")
    s.add_argument("--seed", type=int, default=0, help="random seed [0]")
    s.add_argument("--from-edgeml", metavar="STATE.pt", default=None,
                   help="no training: import a ShaRNN trained with EdgeML's SRNN2 (torch.save'd state dict; "
                        "LSTM or FastGRNN cells; brick size --k)")
    s.add_argument("--edgeml-raw-input", action="store_true",
                   help="the SRNN2 was trained on raw input (default: standardised by the training split's "
                        "per-feature mean and std, as EdgeML's examples do)")
    s.add_argument("--out", required=True, help="model file to write (.wbm)")
    s.set_defaults(func=cmd_train)
