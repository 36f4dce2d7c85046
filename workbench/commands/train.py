"""``workbench train``: train a model on a dataset and write a model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.commands.common import console, finite_float, int_list, progress
from workbench.commands.common import levels as levels_of
from workbench.errors import WorkbenchError


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


def cmd_train(args) -> int:
    from workbench.pipeline import training

    if args.from_edgeml:
        path, acc = training.import_edgeml(args.dataset, Path(args.from_edgeml), args.k, Path(args.out),
                                           args.edgeml_raw_input)
        console().print(f"EdgeML SRNN2 imported to [bold]{path}[/]; test accuracy (float, torch): {acc:.3f}")
        return 0
    from workbench.models.families import FAMILY_LEVELS
    from workbench.models.trainconfig import TrainConfig

    levels = FAMILY_LEVELS.get(args.family)
    if levels is None:
        raise WorkbenchError(f"unknown model family {args.family!r}; known: {', '.join(FAMILY_LEVELS)}")
    options = training.training_options(args.dataset, epochs=args.epochs, patience=args.patience,
                                        val_fraction=args.val_fraction, lr=args.lr, batch_size=args.batch_size,
                                        weight_decay=args.weight_decay, refit=args.refit, augment=args.augment,
                                        shift=args.shift, mask_channels=args.mask_channels,
                                        mask_steps=args.mask_steps)
    epochs = options.pop("epochs", TrainConfig().epochs)
    with progress() as bar:
        path, acc = training.train_model(args.dataset, args.family, levels_of(args.cells), int_list(args.hidden),
                                         args.k, epochs, args.seed, Path(args.out),
                                         cell_options=parse_cell_options(args.cell_options, levels),
                                         window=args.window, progress=bar, **options)
    console().print(f"model written to [bold]{path}[/]; test accuracy (float, torch): {acc:.3f}")
    return 0


def register(sub) -> None:
    from workbench.models.trainconfig import TrainConfig

    d = TrainConfig()
    from workbench.models.families import CELL_KINDS, cells_help

    s = sub.add_parser("train", help="train a model on a dataset and write a model file",
                       description=f"Train a ShaRNN or a single-level RNN (cells: {', '.join(CELL_KINDS)}; on a "
                                   f"device, {cells_help()}) with early stopping on a stratified validation split. "
                                   "Known datasets bring their own training settings (DATASET_TRAINING in "
                                   "workbench/models/trainconfig.py: BasicMotions --shift 1; keywords "
                                   "SpecAugment, 120 epochs, batch 64, lr 5e-3); options given here override them; "
                                   "[defaults] are TrainConfig's.")
    s.add_argument("--dataset", default="BasicMotions",
                   help="dataset name (UCR/UEA archive, keywords, ...), a .npz/.csv file or a folder of WAV files "
                        "per class (<folder>/<class>/*.wav) [BasicMotions]")
    s.add_argument("--family", default="sharnn", help="model family: sharnn (two levels) or rnn (one) [sharnn]")
    s.add_argument("--cells", default="gru", help="cell kind(s) per level: one for every level, or lower,upper [gru]")
    s.add_argument("--hidden", default="16", help="hidden size(s) per level: one, or lower,upper [16]")
    s.add_argument("--cell-options", default=None,
                   help="cell options key=value[,key=value] for every level, or lower;upper "
                        "(fastgrnn: w_rank, u_rank; durnn: layers, short_size, short_radius, long_activation)")
    s.add_argument("--k", type=int, default=None, help="ShaRNN brick length; must divide T [divisor nearest sqrt(T)]")
    s.add_argument("--window", type=int, default=None,
                   help="re-align uneven series to end at step N (zeros in front), e.g. 30 for JapaneseVowels")
    s.add_argument("--epochs", type=int, default=None, help=f"maximum epochs [{d.epochs}]")
    s.add_argument("--patience", type=int, default=None,
                   help=f"early stopping: epochs without a better validation loss [{d.patience}]")
    s.add_argument("--val-fraction", type=finite_float, default=None,
                   help=f"fraction of every class held out for early stopping [{d.val_fraction}]")
    s.add_argument("--lr", type=finite_float, default=None, help=f"Adam learning rate [{d.lr}]")
    s.add_argument("--batch-size", type=int, default=None, help=f"batch size [{d.batch_size}]")
    s.add_argument("--refit", action=argparse.BooleanOptionalAction, default=None,
                   help="after early stopping, retrain on every training window for the chosen number of epochs "
                        f"(doubles the time; pays on small sets) [{'on' if d.refit else 'off'}]")
    s.add_argument("--shift", type=finite_float, default=None,
                   help="augmentation: random circular time shift up to this fraction of the window, for data "
                        f"whose label does not depend on where in the window things happen (activity) [{d.shift}]")
    s.add_argument("--weight-decay", type=finite_float, default=None, help=f"Adam weight decay (L2) [{d.weight_decay}]")
    s.add_argument("--augment", type=finite_float, default=None,
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
