"""Recurrent cells in torch, with the gate layout the C kernels use.

Every cell maps ``x[B, T, I]`` (and an optional initial state) to ``(h[B, T, H], final_state)``;
``final_state`` is a tuple of tensors (``(h,)`` or ``(h, c)``). ``state_tensors`` says how many.
A cell is usable alone (a single-level baseline) or at either level of a ShaRNN.

LSTM and GRU use torch's own fused layers for training speed; their parameters keep torch's names
and gate order (LSTM: i, f, g, o; GRU: r, z, n), which the exporter and the C kernel follow.
"""

from __future__ import annotations

import torch
from torch import nn


class Cell(nn.Module):
    kind: str = ""
    state_tensors: int = 1
    gates: int = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)

    def config(self) -> dict:
        return {"kind": self.kind, "input_size": self.input_size, "hidden_size": self.hidden_size}

    def macs_per_step(self) -> int:
        """Multiply-accumulates of one time step (matrix-vector products only)."""
        return self.gates * self.hidden_size * (self.input_size + self.hidden_size)


class LSTM(Cell):
    kind = "lstm"
    state_tensors = 2
    gates = 4

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, x, state=None):
        if state is not None:
            state = (state[0].unsqueeze(0), state[1].unsqueeze(0))
        out, (h, c) = self.rnn(x, state)
        return out, (h[0], c[0])

    def step_reference(self, x_t, state):
        """One step written out gate by gate: the plain reference the fused layer must equal."""
        h, c = state
        gates = x_t @ self.rnn.weight_ih_l0.T + self.rnn.bias_ih_l0 + h @ self.rnn.weight_hh_l0.T + self.rnn.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class GRU(Cell):
    kind = "gru"
    state_tensors = 1
    gates = 3

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)

    def forward(self, x, state=None):
        h0 = None if state is None else state[0].unsqueeze(0)
        out, h = self.rnn(x, h0)
        return out, (h[0],)

    def step_reference(self, x_t, state):
        (h,) = state
        gx = x_t @ self.rnn.weight_ih_l0.T + self.rnn.bias_ih_l0
        gh = h @ self.rnn.weight_hh_l0.T + self.rnn.bias_hh_l0
        xr, xz, xn = gx.chunk(3, dim=-1)
        hr, hz, hn = gh.chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return ((1 - z) * n + z * h,)


CELLS: dict[str, type[Cell]] = {"lstm": LSTM, "gru": GRU}


def make_cell(kind: str, input_size: int, hidden_size: int, **options) -> Cell:
    from workbench.errors import WorkbenchError

    cls = CELLS.get(kind.lower())
    if cls is None:
        raise WorkbenchError(f"unknown cell {kind!r}; known: {', '.join(sorted(CELLS))}")
    return cls(input_size, hidden_size, **options)
