"""ShaRNN (Dennis et al., NeurIPS 2019) and the single-level baseline, as torch modules.

A window of T steps is cut into T/k bricks of k steps. The lower cell runs on every brick from a zero
state (all bricks in parallel, as one batch); its final hidden state is the brick's output. The upper
cell runs over the T/k brick outputs; a linear layer maps its final hidden state to class logits.

Inputs are normalised per channel inside the model (``(x - mean) * inv_std``), so the exported
kernel takes raw sensor values and the normalisation travels with the weights.
"""

from __future__ import annotations

import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models.cells import Cell, make_cell


class Normalize(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("inv_std", torch.ones(channels))

    def forward(self, x):
        return (x - self.mean) * self.inv_std


class ShaRNN(nn.Module):
    family = "sharnn"

    def __init__(self, cell1: Cell, cell2: Cell, k: int, num_classes: int, window: int):
        super().__init__()
        if k <= 0 or window % k:
            raise WorkbenchError(f"brick size k={k} does not divide the window length T={window}")
        if cell2.input_size != cell1.hidden_size:
            raise WorkbenchError(f"upper cell input {cell2.input_size} != lower cell hidden {cell1.hidden_size}")
        self.norm = Normalize(cell1.input_size)
        self.cell1, self.cell2, self.k, self.window = cell1, cell2, int(k), int(window)
        self.num_bricks = self.window // self.k
        self.fc = nn.Linear(cell2.hidden_size, num_classes)

    def config(self) -> dict:
        return _with_options({"family": self.family, "cells": [self.cell1.kind, self.cell2.kind],
                              "hidden": [self.cell1.hidden_size, self.cell2.hidden_size], "k": self.k,
                              "window": self.window, "input_dim": self.cell1.input_size,
                              "num_classes": self.fc.out_features}, [self.cell1, self.cell2])

    def brick_outputs(self, x):
        """x[B, m*k, I] (already normalised) -> brick outputs [B, m, H1]."""
        b, t, i = x.shape
        bricks = x.reshape(b * (t // self.k), self.k, i)
        _, state = self.cell1(bricks)
        return state[0].reshape(b, t // self.k, -1)

    def head(self, v):
        """Brick outputs v[B, m, H1] -> logits [B, classes]."""
        _, state = self.cell2(v)
        return self.fc(state[0])

    def forward(self, x):
        return self.head(self.brick_outputs(self.norm(x)))

    def macs(self) -> dict:
        """MACs of a full window and of a streamed new window (stride k: one new brick + the upper level).

        full   = (T/k)·k·M1 + (T/k)·M2 + H2·C      stream = k·M1 + (T/k)·M2 + H2·C
        (M1, M2: the cells' ``macs_per_step``; C classes; normalisation and biases not counted)."""
        lower = self.cell1.macs_per_step() * self.k
        upper = self.cell2.macs_per_step() * self.num_bricks + self.fc.in_features * self.fc.out_features
        return {"full_window": lower * self.num_bricks + upper, "stream_window": lower + upper}


class SingleRNN(nn.Module):
    """A single-level baseline: one cell over the whole window, then the linear head."""

    family = "rnn"

    def __init__(self, cell: Cell, num_classes: int, window: int):
        super().__init__()
        self.norm = Normalize(cell.input_size)
        self.cell, self.window = cell, int(window)
        self.fc = nn.Linear(cell.hidden_size, num_classes)

    def config(self) -> dict:
        return _with_options({"family": self.family, "cells": [self.cell.kind], "hidden": [self.cell.hidden_size],
                              "window": self.window, "input_dim": self.cell.input_size,
                              "num_classes": self.fc.out_features}, [self.cell])

    def forward(self, x):
        _, state = self.cell(self.norm(x))
        return self.fc(state[0])

    def macs(self) -> dict:
        """full = stream = T·M + H·C: a single-level RNN's sliding window has no reusable part, so
        every new window (whatever the stride) is recomputed in full."""
        full = self.cell.macs_per_step() * self.window + self.fc.in_features * self.fc.out_features
        return {"full_window": full, "stream_window": full}


class ShaRNNStream:
    """The paper's Claim 1 on the host: keep the brick outputs still inside the window, compute only
    new bricks. ``push(steps[B, j*k, I])`` returns the logits of the window ending at the newest step
    once ``window`` steps have arrived (None before)."""

    def __init__(self, model: ShaRNN):
        self.model = model
        self.bricks: torch.Tensor | None = None

    def reset(self):
        self.bricks = None

    @torch.no_grad()
    def push(self, steps):
        if steps.shape[1] % self.model.k:
            raise WorkbenchError(f"a stream push must be a multiple of k={self.model.k} steps")
        new = self.model.brick_outputs(self.model.norm(steps))
        self.bricks = new if self.bricks is None else torch.cat([self.bricks, new], dim=1)
        self.bricks = self.bricks[:, -self.model.num_bricks:]
        if self.bricks.shape[1] < self.model.num_bricks:
            return None
        return self.model.head(self.bricks)


def _with_options(config: dict, cells) -> dict:
    """Add ``cell_options`` (one dict per level) when any cell has options, so the file rebuilds exactly.
    Models whose cells take no options keep the config they always had (and so their content hash)."""
    options = [c.options() for c in cells]
    if any(options):
        config["cell_options"] = options
    return config


def build_model(config: dict) -> nn.Module:
    """Construct a model from its config dict (as stored in a model file)."""
    family = config.get("family")
    cells, hidden = config.get("cells", []), config.get("hidden", [])
    levels = {"sharnn": 2, "rnn": 1}.get(family)
    if levels is None:
        raise WorkbenchError(f"unknown model family {family!r}; known: sharnn, rnn")
    options = config.get("cell_options") or [{}] * levels
    try:
        if len(cells) != levels or len(hidden) != levels or len(options) != levels:
            raise WorkbenchError(f"model family {family} needs {levels} cell(s), hidden size(s) and option set(s); "
                                 f"config has cells={cells} hidden={hidden}")
        if family == "sharnn":
            c1 = make_cell(cells[0], config["input_dim"], hidden[0], **options[0])
            c2 = make_cell(cells[1], hidden[0], hidden[1], **options[1])
            return ShaRNN(c1, c2, config["k"], config["num_classes"], config["window"])
        c = make_cell(cells[0], config["input_dim"], hidden[0], **options[0])
        return SingleRNN(c, config["num_classes"], config["window"])
    except KeyError as exc:
        raise WorkbenchError(f"model config is missing {exc}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
