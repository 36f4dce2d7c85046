"""Training settings and results: plain dataclasses, importable without torch (the CLI reads the
defaults for its --help while keeping its start instant)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from workbench.errors import WorkbenchError


LR_MAX = 3.4e38 / 10       # float32's largest over Adam's first bias correction, 1 / (1 - 0.9)


@dataclass
class TrainConfig:
    epochs: int = 150
    batch_size: int = 16
    lr: float = 1e-2
    weight_decay: float = 0.0
    val_fraction: float = 0.2
    patience: int = 40
    seed: int = 0
    threads: int = 1           # fixed thread count: float reductions must not depend on the machine's cores
    criterion: str = "loss"    # "loss" (smoothed validation loss) or "accuracy" (then loss)
    smooth: int = 5            # epochs averaged by the loss criterion
    augment: float = 0.2       # strength of gain/jitter augmentation (0: off)
    shift: float = 0.0         # random circular time shift of up to this fraction of the window (0: off)
    mask_channels: int = 0     # SpecAugment: mask one band of up to this many adjacent channels (0: off)
    mask_steps: int = 0        # SpecAugment: mask two spans of up to this many steps (0: off)
    schedule: str = "cosine"   # "cosine" decay over `epochs`, or "constant"
    refit: bool = True         # retrain on all training windows for the chosen number of epochs
    clip: float = 5.0          # gradient norm clip

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise WorkbenchError(f"--{f.name.replace('_', '-')} {value}: give a finite number")
        for name in ("epochs", "patience", "batch_size"):
            if getattr(self, name) < 1:
                raise WorkbenchError(f"--{name.replace('_', '-')} {getattr(self, name)}: give at least 1")
        for name in ("lr", "weight_decay", "augment", "mask_channels", "mask_steps"):
            if getattr(self, name) < 0:
                raise WorkbenchError(f"--{name.replace('_', '-')} {getattr(self, name)}: must not be negative")
        if not self.lr <= LR_MAX:
            raise WorkbenchError(f"--lr {self.lr:g}: above {LR_MAX:.2g}, where Adam's first step (10 × lr) "
                                 "overflows float32")
        if not 0.0 <= self.val_fraction < 1.0:
            raise WorkbenchError(f"--val-fraction must lie in [0, 1), got {self.val_fraction}")
        if not 0.0 <= self.shift <= 1.0:
            raise WorkbenchError(f"--shift must lie in [0, 1], got {self.shift}")


# Settings that differ from TrainConfig's defaults per dataset; `workbench train` applies them unless its
# options say otherwise, and bench/models_bench.py trains every family of a dataset with them.
# - BasicMotions: windows are 10 s of a periodic activity; where a stride falls carries no label, so
#   windows are also rolled by a random shift.
# - keywords: 7,200 training clips of 40 voice variants, tested on 10 unseen variants. Without
#   augmentation a ShaRNN LSTM 32/16 reached 92 % on its training voices but 79 % on the unseen ones;
#   with SpecAugment masks and a small time shift, 120 epochs, 94 % and 89.6 % at lr 3e-3; at lr 5e-3
#   95.6 % and 90.75 %, and the single-level LSTM 32 (which underfits at 3e-3: 82.3 %) 89.7 % (docs/benchmarks.md
#   benchmark). A tenth of the clips decides the epochs, and there is no refit (it would double the
#   training to win back a tenth of the data).
DATASET_TRAINING: dict[str, dict] = {
    "BasicMotions": {"shift": 1.0},
    "keywords": {"epochs": 120, "batch_size": 64, "lr": 5e-3, "patience": 20, "val_fraction": 0.1, "refit": False,
                 "augment": 0.05, "shift": 0.1, "mask_channels": 6, "mask_steps": 12},
}


def dataset_training(dataset: str, **given) -> dict:
    """The training options for ``dataset``: its own settings (DATASET_TRAINING) overridden by the
    options ``given`` (None: not given). Unknown names are refused; the values are TrainConfig's to check."""
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise WorkbenchError(f"unknown training option(s) {', '.join(unknown)} (have: {', '.join(sorted(known))})")
    return {**DATASET_TRAINING.get(dataset, {}), **{k: v for k, v in given.items() if v is not None}}


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    val_accuracy: float
    val_loss: float
    train_accuracy: float
    refit: bool
