"""Integer cells: how each cell family's float tensors become the kernel's integer tensors, and the
numpy integer reference of one time step (the golden model the C kernel equals bit for bit).

A cell computes its gate pre-activations from two accumulators per gate row:

    acc_x = b_x + W_x . x      (int32, scale 2**(q_wx + q_x))
    acc_h = b_h + W_h . h      (int32, scale 2**(q_wh + q_h))
    pre   = rshift_round(acc_x, q_wx + q_x - 16) + rshift_round(acc_h, q_wh + q_h - 16)    (Q16)

Rows are torch's (LSTM i, f, g, o; GRU r, z, n). The C kernel reads the rows of one hidden unit as one
interleaved block (``unit_rows``), so a unit's gates come out of one pass over x and h and its update
happens while they are still in registers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.quantize.fixedpoint import rshift_round, sat16, sigmoid_q15, tanh_q15

ONE_Q15 = 1 << 15


@dataclass
class CellQ:
    """One quantized cell. Weights are int16 values held in int64 arrays, torch row order, columns
    padded to an even count with zeros (the kernel reads them in pairs)."""

    kind: str
    input_dim: int              # I (before padding)
    hidden_dim: int             # H
    q_x: int                    # Q format of the input vector
    q_h: int                    # Q format of the hidden state (15: the cell's h is bounded by 1)
    q_wx: int
    q_wh: int
    w_x: np.ndarray             # [G*H, I_pad]
    w_h: np.ndarray             # [G*H, H_pad]
    b_x: np.ndarray             # [G*H] at Q(q_wx + q_x)
    b_h: np.ndarray             # [G*H] at Q(q_wh + q_h)
    q_c: int | None = None      # LSTM cell state Q format
    extra: dict = field(default_factory=dict)

    @property
    def shift_x(self) -> int:
        return self.q_wx + self.q_x - 16

    @property
    def shift_h(self) -> int:
        return self.q_wh + self.q_h - 16

    @property
    def spec(self) -> "CellSpec":
        return CELL_SPECS[self.kind]

    def zero_state(self, batch: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, self.hidden_dim), dtype=np.int64) for name in self.spec.state}

    def accumulate(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Q16 pre-activation halves of every gate row: (from x, from h), each [B, G*H]."""
        # Vectors may come padded to even (device inputs) or not (brick outputs): pad columns are 0.
        ax = x @ self.w_x[:, :x.shape[1]].T + self.b_x
        ah = h @ self.w_h[:, :h.shape[1]].T + self.b_h
        return rshift_round(ax, self.shift_x), rshift_round(ah, self.shift_h)

    def step(self, x: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.spec.step(self, x, state)


class CellSpec:
    """What the quantizer and exporter need to know about one cell family."""

    kind = ""
    gates = 1
    state = ("h",)                     # state tensors; "h" is the output
    kernel_kind = 0                    # sharnn_cell_kind_t
    bounded = True                     # |h| < 1: Q15 hidden state

    def float_tensors(self, tensors: dict, prefix: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(W_x, W_h, b_x, b_h) in float from the model file, biases already split between the two
        accumulators as the integer step uses them."""
        raise NotImplementedError

    def unit_rows(self, hidden: int) -> list[list[int]]:
        """Torch row indices of each interleaved block, in the order the kernel visits them."""
        return [[g * hidden + j for g in range(self.gates)] for j in range(hidden)]

    def step(self, cell: CellQ, x, state):
        raise NotImplementedError


class LSTMSpec(CellSpec):
    kind, gates, state, kernel_kind = "lstm", 4, ("h", "c"), 1

    def float_tensors(self, t, p):
        b = t[f"{p}.rnn.bias_ih_l0"].astype(np.float64) + t[f"{p}.rnn.bias_hh_l0"]
        return t[f"{p}.rnn.weight_ih_l0"], t[f"{p}.rnn.weight_hh_l0"], b, np.zeros_like(b)

    def step(self, cell, x, state):
        H, qc = cell.hidden_dim, cell.q_c
        px, ph = cell.accumulate(x, state["h"])
        pre = px + ph
        i = sigmoid_q15(pre[:, :H])
        f = sigmoid_q15(pre[:, H:2 * H])
        g = tanh_q15(pre[:, 2 * H:3 * H])
        o = sigmoid_q15(pre[:, 3 * H:])
        # c (Q qc): f*c is Q(15+qc); i*g is Q30, brought to Q(15+qc) first.
        c = sat16(rshift_round(f * state["c"] + rshift_round(i * g, 15 - qc), 15))
        h = rshift_round(o * tanh_q15(c << (16 - qc)), 15)
        return {"h": h, "c": c}


class GRUSpec(CellSpec):
    kind, gates, state, kernel_kind = "gru", 3, ("h",), 2

    def float_tensors(self, t, p):
        b_ih, b_hh = t[f"{p}.rnn.bias_ih_l0"].astype(np.float64), t[f"{p}.rnn.bias_hh_l0"].astype(np.float64)
        H = len(b_ih) // 3
        # r and z take both biases on the x side; n keeps b_hn inside r * (W_hn h + b_hn).
        b_x = np.concatenate([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
        b_h = np.concatenate([np.zeros(2 * H), b_hh[2 * H:]])
        return t[f"{p}.rnn.weight_ih_l0"], t[f"{p}.rnn.weight_hh_l0"], b_x, b_h

    def step(self, cell, x, state):
        H = cell.hidden_dim
        h = state["h"]
        px, ph = cell.accumulate(x, h)
        r = sigmoid_q15(px[:, :H] + ph[:, :H])
        z = sigmoid_q15(px[:, H:2 * H] + ph[:, H:2 * H])
        n = tanh_q15(px[:, 2 * H:] + rshift_round(r * ph[:, 2 * H:], 15))
        # (1 - z) n + z h, with 1 - z = 32768 - z in [1, 32768]: both products stay below 2**30.
        return {"h": rshift_round((ONE_Q15 - z) * n + z * h, 15)}


CELL_SPECS: dict[str, CellSpec] = {s.kind: s for s in (LSTMSpec(), GRUSpec())}
