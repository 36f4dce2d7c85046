"""Training settings and results: plain dataclasses, importable without torch (the CLI reads the
defaults for its --help while keeping its start instant)."""

from __future__ import annotations

from dataclasses import dataclass


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
    schedule: str = "cosine"   # "cosine" decay over `epochs`, or "constant"
    refit: bool = True         # retrain on all training windows for the chosen number of epochs
    clip: float = 5.0          # gradient norm clip


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    val_accuracy: float
    val_loss: float
    train_accuracy: float
    refit: bool
