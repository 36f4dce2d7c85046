"""Training: Adam on cross-entropy, early stopping on a stratified validation split, epochs reported to a
progress object (workbench.progress).

Seeded end to end (split, init, batch order, augmentation) with a fixed thread count: the same seed and
data give the same weights bit for bit on one machine; not across CPU types (their float kernels differ),
so another machine may train another model from the same command.

What makes it hold up on tiny sets (BasicMotions trains on 40 windows; measured in
``bench/models_bench.py --study``, figures in docs/benchmarks.md):
- the stopping criterion is the validation *loss* (averaged over ``smooth`` epochs), not the accuracy,
  which on 8 validation windows moves in steps of 12.5 % and ties for dozens of epochs;
- light augmentation of the raw windows (a per-window, per-channel gain and additive jitter);
- a cosine learning-rate decay over the planned epochs;
- ``refit``: the split only chooses the number of epochs; the model is then trained again from the
  same initial weights on every training window for that many epochs (the usual remedy when a
  validation split costs a fifth of the data).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from workbench.data import Dataset
from workbench.models.trainconfig import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult", "train", "accuracy", "predict_logits"]


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
    from workbench.data.checks import normalization_stats

    mean, std = normalization_stats(x)
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


def augment_batch(xb: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, cfg: TrainConfig,
                  gen: torch.Generator) -> torch.Tensor:
    """Raw windows [B, T, C], augmented as ``cfg`` says:
    - ``shift`` > 0: rolled circularly by a random number of steps up to shift·T;
    - ``augment`` = s > 0: a gain N(1, s) per window and channel and jitter N(0, s·std_c) per step;
    - ``mask_channels`` / ``mask_steps`` = w > 0 (SpecAugment, Park et al. 2019): one band of up to w
      adjacent channels and two spans of up to w steps per window are set to the channel means (zero
      after standardisation), so a model cannot lean on one formant band or one instant of a word."""
    b, t, c = xb.shape
    if cfg.shift > 0:
        steps = torch.randint(0, max(1, int(cfg.shift * t)) + 1, (b, 1), generator=gen)
        index = (torch.arange(t).unsqueeze(0) + steps) % t
        xb = torch.gather(xb, 1, index.unsqueeze(-1).expand(b, t, c))
    if cfg.augment > 0:
        gain = 1.0 + cfg.augment * torch.randn(b, 1, c, generator=gen)
        jitter = cfg.augment * std * torch.randn(b, t, c, generator=gen)
        xb = xb * gain + jitter
    keep = torch.ones(b, t, c, dtype=torch.bool)
    for width, axis, count in ((cfg.mask_channels, 2, 1), (cfg.mask_steps, 1, 2)):
        if width <= 0:
            continue
        size = c if axis == 2 else t
        pos = torch.arange(size).unsqueeze(0)
        for _ in range(count):
            w = torch.randint(0, min(width, size) + 1, (b, 1), generator=gen)
            start = (torch.rand(b, 1, generator=gen) * (size - w + 1)).long()
            band = (pos >= start) & (pos < start + w)  # [B, size]
            keep &= ~(band.unsqueeze(1) if axis == 2 else band.unsqueeze(2))
    if cfg.mask_channels > 0 or cfg.mask_steps > 0:
        xb = torch.where(keep, xb, mean.expand(b, t, c))
    return xb


def train(model: nn.Module, data: Dataset, cfg: TrainConfig, progress=None) -> TrainResult:
    """Train ``model`` in place on ``data``; returns what the validation split decided. Epochs are
    reported to ``progress`` (workbench.progress; None: nowhere)."""
    from workbench.progress import Silent

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    initial = copy.deepcopy(model.state_dict())
    tr_idx, va_idx = stratified_split(data.y, cfg.val_fraction, cfg.seed)
    progress = progress or Silent()
    name = f"train {model.config()['family']} on {data.name}, epochs"
    task = progress.add_task(name, total=cfg.epochs, status="")
    best = _fit(model, data.x[tr_idx], data.y[tr_idx], data.x[va_idx], data.y[va_idx], cfg, cfg.epochs,
                progress, task)
    refit = cfg.refit and len(va_idx) > 0
    if refit:
        model.load_state_dict(initial)
        progress.update(task, description=f"{name} of the refit on all {len(data.y)} windows", completed=0,
                        total=best["epoch"], status="")
        _fit(model, data.x, data.y, data.x[:0], data.y[:0], cfg, best["epoch"], progress, task)
    model.eval()
    return TrainResult(best_epoch=best["epoch"], epochs_run=best["epochs_run"], val_accuracy=best["acc"],
                       val_loss=best["loss"], train_accuracy=accuracy(model, data.x, data.y), refit=refit)


def _fit(model, x_tr, y_tr, x_va, y_va, cfg: TrainConfig, epochs: int, progress, task) -> dict:
    """Train for up to ``epochs``. With validation windows: early stopping, best weights restored.
    Without: exactly ``epochs`` epochs (the refit). The seed restarts every stream of randomness, so
    a refit sees the same batch order and augmentation draws as the first run's first epochs."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    with torch.no_grad():
        set_normalization(model, x_tr)
    std, mean = 1.0 / model.norm.inv_std, model.norm.mean.clone()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    validate = len(x_va) > 0
    history: list[float] = []
    best = {"epoch": epochs, "score": (float("inf"),), "acc": float("nan"), "loss": float("nan"),
            "state": None, "epochs_run": epochs}
    for epoch in range(1, epochs + 1):
        if cfg.schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / max(1, cfg.epochs)))
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), cfg.batch_size):
            b = perm[i:i + cfg.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(augment_batch(xt[b], mean, std, cfg, gen)), yt[b])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
        if not validate:
            progress.update(task, advance=1)
            continue
        acc, vloss = _evaluate(model, x_va, y_va, loss_fn)
        history.append(vloss)
        if cfg.criterion == "accuracy":
            score = (-acc, vloss)
        else:
            score = (float(np.mean(history[-cfg.smooth:])),)
        if score < best["score"]:
            best.update(epoch=epoch, score=score, acc=acc, loss=vloss, state=copy.deepcopy(model.state_dict()))
        status = f"val acc {acc:.3f} loss {vloss:.3f} (best @ {best['epoch']})"
        progress.update(task, advance=1, status=status)
        if epoch - best["epoch"] >= cfg.patience:
            break
    best["epochs_run"] = epoch
    if validate and best["state"] is not None:
        model.load_state_dict(best["state"])
    return best


@torch.no_grad()
def _evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    logits = predict_logits(model, x)
    loss = float(loss_fn(torch.from_numpy(logits), torch.from_numpy(y)))
    return float((logits.argmax(axis=1) == y).mean()), loss
