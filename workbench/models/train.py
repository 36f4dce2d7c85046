"""Training: Adam on cross-entropy, a stratified validation split for early stopping, a rich progress bar.

Seeded end to end (split, init, batch order): the same seed and data give the same weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from workbench.data import Dataset


@dataclass
class TrainConfig:
    epochs: int = 150
    batch_size: int = 16
    lr: float = 1e-2
    weight_decay: float = 0.0
    val_fraction: float = 0.2
    patience: int = 40
    seed: int = 0
    threads: int = 1  # fixed thread count: float reductions must not depend on the machine's cores


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    val_accuracy: float
    train_accuracy: float


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): ``fraction`` of every class goes to validation (at least one if it has ≥ 2)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_val = int(round(fraction * len(idx)))
        if fraction > 0 and len(idx) >= 2:
            n_val = max(1, n_val)
        val.extend(idx[:n_val])
        train.extend(idx[n_val:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(val, dtype=np.int64))


def set_normalization(model: nn.Module, x: np.ndarray) -> None:
    """Per-channel mean and 1/std of the training windows, stored in the model's Normalize buffers."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    mean = flat.mean(axis=0)
    std = flat.std(axis=0)
    std[std < 1e-6] = 1.0
    model.norm.mean.copy_(torch.tensor(mean, dtype=torch.float32))
    model.norm.inv_std.copy_(torch.tensor(1.0 / std, dtype=torch.float32))


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(x[i:i + batch_size])).numpy() for i in range(0, len(x), batch_size)]
    return np.concatenate(out, axis=0)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    if len(x) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(axis=1) == y).mean())


def train(model: nn.Module, data: Dataset, cfg: TrainConfig, progress=None) -> TrainResult:
    """Train ``model`` in place on ``data``; keeps the weights of the best validation epoch."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    tr_idx, va_idx = stratified_split(data.y, cfg.val_fraction, cfg.seed)
    x_tr, y_tr = data.x[tr_idx], data.y[tr_idx]
    x_va, y_va = data.x[va_idx], data.y[va_idx]
    with torch.no_grad():
        set_normalization(model, x_tr)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(cfg.seed)
    best = (-1.0, float("inf"))  # (val accuracy, val loss): higher accuracy, then lower loss
    best_state, best_epoch, epoch = copy.deepcopy(model.state_dict()), 0, 0

    own = progress is None
    progress = progress or Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(),
                                    TextColumn("{task.completed}/{task.total} epochs"),
                                    TextColumn("{task.fields[status]}"), TimeRemainingColumn(), transient=False)
    with progress if own else _nullcontext():
        task = progress.add_task(f"{model.config()['family']} on {data.name}", total=cfg.epochs, status="")
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            perm = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), cfg.batch_size):
                b = perm[i:i + cfg.batch_size]
                opt.zero_grad()
                loss = loss_fn(model(xt[b]), yt[b])
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
            score = _evaluate(model, x_va if len(x_va) else x_tr, y_va if len(y_va) else y_tr, loss_fn)
            if score[0] > best[0] or (score[0] == best[0] and score[1] < best[1]):
                best, best_state, best_epoch = score, copy.deepcopy(model.state_dict()), epoch
            progress.update(task, advance=1, status=f"val acc {score[0]:.3f} (best {best[0]:.3f} @ {best_epoch})")
            if epoch - best_epoch >= cfg.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_epoch=best_epoch, epochs_run=epoch, val_accuracy=best[0],
                       train_accuracy=accuracy(model, x_tr, y_tr))


@torch.no_grad()
def _evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    logits = predict_logits(model, x)
    loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(y)))
    return float((logits.argmax(axis=1) == y).mean()), loss


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
