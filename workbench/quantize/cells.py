"""Integer cells: how each cell family's float tensors become the kernel's integer tensors, and the
numpy integer reference of one time step (the golden model the C kernel equals bit for bit).

A cell computes its gate pre-activations from two accumulators per gate row:

    acc_x = b_x + W_x . x      (int32, scale 2**(q_wx + q_x))
    acc_h = b_h + W_h . h      (int32, scale 2**(q_wh + q_h); absent in minGRU/minLSTM)
    pre   = rshift_round(acc_x, q_wx + q_x - 16) + rshift_round(acc_h, q_wh + q_h - 16)    (Q16)

Rows are torch's (LSTM i, f, g, o; GRU r, z, n; ...). The C kernel reads the rows of a few hidden units
as one interleaved block (``unit_rows``), so the gates of those units come out of one pass over x and
h and their update happens while they are still in registers.

Float tensors come from the torch cell's ``effective_weights()`` (the values its step uses: FastGRNN's
zeta/nu after their sigmoid, low-rank products multiplied out), so no reparametrisation is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    q_h: int                    # Q format of the hidden state (15 where the cell bounds |h| by 1)
    q_wx: int
    q_wh: int
    w_x: np.ndarray             # [rows, I_pad]
    w_h: np.ndarray             # [rows, H_pad], or [rows, 0]: no recurrent matrix
    b_x: np.ndarray             # [rows] at Q(q_wx + q_x)
    b_h: np.ndarray             # [rows] at Q(q_wh + q_h)
    q_c: int | None = None      # LSTM cell state Q format
    aux: np.ndarray | None = None   # cell-specific int32 vector (FastGRNN: b_z then b_h, Q16)
    params: tuple = ()              # cell-specific int16 scalars (FastGRNN: zeta, nu, Q15)
    modules: list | None = None     # DuRNN: its stacked modules (DuRNNModuleQ)
    above: CellQ | None = None      # minGRU/minLSTM: the next stacked layer (input: this layer's h)

    @property
    def top(self) -> CellQ:
        """The top layer of a stack (the cell itself without one): its h is the level's output."""
        return self.above.top if self.above is not None else self

    @property
    def recurrent(self) -> bool:
        return self.w_h.shape[1] > 0

    @property
    def shift_x(self) -> int:
        return self.q_wx + self.q_x - 16

    @property
    def shift_h(self) -> int:
        return self.q_wh + self.q_h - 16 if self.recurrent else 0

    @property
    def spec(self) -> "CellSpec":
        return CELL_SPECS[self.kind]

    # A stack's state holds each layer's tensors, the layers above under the prefix "above.".
    def zero_state(self, batch: int) -> dict[str, np.ndarray]:
        state = self.spec.zero_state(self, batch)
        if self.above is not None:
            state.update({ABOVE + k: v for k, v in self.above.zero_state(batch).items()})
        return state

    def output(self, state: dict[str, np.ndarray]) -> np.ndarray:
        if self.above is not None:
            return self.above.output(_above(state))
        return state[self.spec.output_name(self)]

    def state_q(self, name: str) -> int:
        """Q format of one state tensor."""
        if name.startswith(ABOVE):
            return self.above.state_q(name[len(ABOVE):])
        return self.spec.state_q(self, name)

    def state_len(self) -> int:
        """int16 elements of the kernel's state buffer of this cell and the layers above it."""
        return self.spec.state_len(self) + (self.above.state_len() if self.above is not None else 0)

    def accumulate(self, x: np.ndarray, h: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Q16 pre-activation halves of every gate row: (from x, from h), each [B, rows]."""
        # Vectors may come padded to even (device inputs) or not (brick outputs): pad columns are 0.
        px = rshift_round(x @ self.w_x[:, :x.shape[1]].T + self.b_x, self.shift_x)
        if not self.recurrent:
            return px, np.zeros_like(px)
        return px, rshift_round(h @ self.w_h[:, :h.shape[1]].T + self.b_h, self.shift_h)

    def step(self, x: np.ndarray, state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        new = self.spec.step(self, x, {k: v for k, v in state.items() if not k.startswith(ABOVE)})
        if self.above is not None:
            h = new[self.spec.output_name(self)]
            new.update({ABOVE + k: v for k, v in self.above.step(h, _above(state)).items()})
        return new


ABOVE = "above."


def _above(state: dict) -> dict:
    return {k[len(ABOVE):]: v for k, v in state.items() if k.startswith(ABOVE)}


class CellSpec:
    """What the quantizer and exporter need to know about one cell family."""

    kind = ""
    rows_per_unit = 1                  # gate rows of one hidden unit
    units_per_block = 1                # units whose rows the kernel interleaves into one block
    state = ("h",)                     # state tensors; "h" is the output
    kernel_kind = 0                    # sharnn_cell_kind_t
    bounded = True                     # |h| < 1: Q15 hidden state; else a calibrated Q format
    max_q_h = 15                       # the highest Q the kernel's arithmetic allows for h

    def float_tensors(self, w: dict) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
        """(W_x, W_h or None, b_x, b_h) in float from the cell's effective weights, biases split
        between the two accumulators as the integer step uses them."""
        raise NotImplementedError

    def extras(self, w: dict, hidden: int) -> tuple[np.ndarray | None, tuple]:
        """Cell-specific integer vector and scalars (see CellQ.aux / params)."""
        return None, ()

    @property
    def block_rows(self) -> int:
        return self.rows_per_unit * self.units_per_block

    def unit_rows(self, hidden: int) -> list[list[int]]:
        """Torch row indices of each interleaved block, in the order the kernel visits them (-1: a pad
        row of a missing unit when H is not a multiple of units_per_block)."""
        n = self.units_per_block
        return [[g * hidden + j if j < hidden else -1 for j in range(b, b + n) for g in range(self.rows_per_unit)]
                for b in range(0, hidden, n)]

    def state_len(self, cell: CellQ) -> int:
        """int16 elements of the kernel's state buffer of one level (sharnn_q15_cell_state_len()):
        two h of H rounded up to even (a step reads one, writes the other) plus the other states."""
        return (2 + len(self.state) - 1) * (cell.hidden_dim + cell.hidden_dim % 2)

    def zero_state(self, cell: CellQ, batch: int) -> dict[str, np.ndarray]:
        return {name: np.zeros((batch, cell.hidden_dim), dtype=np.int64) for name in self.state}

    def output_name(self, cell: CellQ) -> str:
        return "h"

    def state_q(self, cell: CellQ, name: str) -> int:
        return cell.q_c if name == "c" else cell.q_h

    def step(self, cell: CellQ, x, state):
        raise NotImplementedError


def layer_weights(w: dict) -> list[dict]:
    """The stacked layers of a minGRU/minLSTM level, bottom first: its effective weights split by their
    ``stack.{j}.`` prefix (names without the prefix: one layer)."""
    if not any(k.startswith("stack.") for k in w):
        return [w]
    n = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("stack."))
    return [{k.split(".", 2)[2]: v for k, v in w.items() if k.startswith(f"stack.{j}.")} for j in range(n)]


def g_q(v, q_h: int):
    """minGRU/minLSTM's g() of a Q16 pre-activation, in Q(q_h): v + 0.5 for v >= 0 (v clamped at 2**30
    so the kernel's int32 sum cannot wrap), sigmoid(v) below."""
    v = np.asarray(v, dtype=np.int64)
    pos = sat16(rshift_round(np.minimum(v, 1 << 30) + (1 << 15), 16 - q_h))
    return np.where(v >= 0, pos, rshift_round(sigmoid_q15(v), 15 - q_h))


class LSTMSpec(CellSpec):
    kind, rows_per_unit, state, kernel_kind = "lstm", 4, ("h", "c"), 1

    def float_tensors(self, w):
        b = w["rnn.bias_ih_l0"] + w["rnn.bias_hh_l0"]
        return w["rnn.weight_ih_l0"], w["rnn.weight_hh_l0"], b, np.zeros_like(b)

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
    kind, rows_per_unit, state, kernel_kind = "gru", 3, ("h",), 2

    def float_tensors(self, w):
        b_ih, b_hh = w["rnn.bias_ih_l0"], w["rnn.bias_hh_l0"]
        H = len(b_ih) // 3
        # r and z take both biases on the x side; n keeps b_hn inside r * (W_hn h + b_hn).
        b_x = np.concatenate([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:]])
        b_h = np.concatenate([np.zeros(2 * H), b_hh[2 * H:]])
        return w["rnn.weight_ih_l0"], w["rnn.weight_hh_l0"], b_x, b_h

    def step(self, cell, x, state):
        H = cell.hidden_dim
        h = state["h"]
        px, ph = cell.accumulate(x, h)
        r = sigmoid_q15(px[:, :H] + ph[:, :H])
        z = sigmoid_q15(px[:, H:2 * H] + ph[:, H:2 * H])
        n = tanh_q15(px[:, 2 * H:] + rshift_round(r * ph[:, 2 * H:], 15))
        # (1 - z) n + z h, with 1 - z = 32768 - z in [1, 32768]: both products stay below 2**30.
        return {"h": rshift_round((ONE_Q15 - z) * n + z * h, 15)}


class FastGRNNSpec(CellSpec):
    """a = W x + U h (shared by gate and candidate); z = sigmoid(a + b_z); h~ = tanh(a + b_h);
    h' = (zeta (1 - z) + nu) h~ + z h. |h| is not bounded by 1 (nu > 0): Q(q_h) from calibration,
    at most Q14 so (zeta (1 - z) + nu) h~ + z h stays inside int32."""

    kind, rows_per_unit, units_per_block, kernel_kind = "fastgrnn", 1, 4, 3
    bounded, max_q_h = False, 14

    def float_tensors(self, w):
        zero = np.zeros(len(w["b_z"]))
        return w["W"], w["U"], zero, zero

    def extras(self, w, hidden):
        aux = np.concatenate([np.floor(w["b_z"] * 65536.0 + 0.5), np.floor(w["b_h"] * 65536.0 + 0.5)])
        q15 = [int(min(np.floor(float(w[k]) * 32768.0 + 0.5), 32767)) for k in ("zeta", "nu")]
        return aux.astype(np.int64), tuple(q15)

    def step(self, cell, x, state):
        H, h = cell.hidden_dim, state["h"]
        px, ph = cell.accumulate(x, h)
        a = px + ph
        z = sigmoid_q15(a + cell.aux[:H])
        h_tilde = tanh_q15(a + cell.aux[H:])
        zeta, nu = cell.params
        coef = rshift_round(zeta * (ONE_Q15 - z), 15) + nu              # Q15, < 2
        return {"h": sat16(rshift_round(rshift_round(coef * h_tilde, 15 - cell.q_h) + z * h, 15))}


class MinGRUSpec(CellSpec):
    """z = sigmoid(W_z x + b_z); h~ = g(W_h x + b_h); h' = (1 - z) h + z h~. Gates from x only: no
    recurrent matrix. h >= 0 grows with h~: Q(q_h) from calibration."""

    kind, rows_per_unit, units_per_block, kernel_kind, bounded = "mingru", 2, 2, 4, False

    def float_tensors(self, w):
        return (np.concatenate([w["weight_z"], w["weight_h"]]), None,
                np.concatenate([w["bias_z"], w["bias_h"]]), np.zeros(2 * len(w["bias_z"])))

    def step(self, cell, x, state):
        H = cell.hidden_dim
        px, _ = cell.accumulate(x)
        z = sigmoid_q15(px[:, :H])
        return {"h": rshift_round((ONE_Q15 - z) * state["h"] + z * g_q(px[:, H:], cell.q_h), 15)}


class MinLSTMSpec(CellSpec):
    """f, i = sigmoid(.); h~ = g(.); f' = f / (f + i) (integer division, round half up), i' = 1 - f';
    h' = f' h + i' h~. No recurrent matrix; Q(q_h) from calibration."""

    kind, rows_per_unit, kernel_kind, bounded = "minlstm", 3, 5, False

    def float_tensors(self, w):
        return (np.concatenate([w["weight_f"], w["weight_i"], w["weight_h"]]), None,
                np.concatenate([w["bias_f"], w["bias_i"], w["bias_h"]]), np.zeros(3 * len(w["bias_f"])))

    def step(self, cell, x, state):
        H = cell.hidden_dim
        px, _ = cell.accumulate(x)
        f, i = sigmoid_q15(px[:, :H]), sigmoid_q15(px[:, H:2 * H])
        f_norm = ((f << 15) + ((f + i) >> 1)) // (f + i)                  # Q15 in [0, 32767]
        h_tilde = g_q(px[:, 2 * H:], cell.q_h)
        return {"h": rshift_round(f_norm * state["h"] + (ONE_Q15 - f_norm) * h_tilde, 15)}


@dataclass
class MatQ:
    """One quantized weight matrix with the bias of its rows, applied to a vector in Q(q_v): the
    accumulator ends in Q(q_w + q_v) and is brought to Q16."""

    q_w: int
    q_v: int
    w: np.ndarray               # [rows, cols padded to even]
    b: np.ndarray               # [rows] at Q(q_w + q_v)

    @property
    def shift(self) -> int:
        return self.q_w + self.q_v - 16

    def pre(self, v: np.ndarray) -> np.ndarray:
        return rshift_round(v @ self.w[:, :v.shape[1]].T + self.b, self.shift)


@dataclass
class DuRNNModuleQ:
    """One DuRNN module: s' = tanh(W_sx x + U_ss s + b_s); g = sigmoid(W_gx x + W_gs s' + b_g);
    l' = phi(W_ls (g s') + u l + b_l). s, g in Q15; l in Q(q_l) (15 for phi = tanh; calibrated for
    ReLU, whose l is unbounded)."""

    input_dim: int
    short_dim: int
    hidden_dim: int
    q_l: int
    relu: bool
    sx: MatQ
    ss: MatQ
    gx: MatQ
    gs: MatQ
    ls: MatQ
    u: np.ndarray               # [H] Q15

    def step(self, x, s, l):
        s = tanh_q15(self.sx.pre(x) + self.ss.pre(s))
        gs = rshift_round(sigmoid_q15(self.gx.pre(x) + self.gs.pre(s)) * s, 15)
        # u (Q15) * l (Q q_l) is Q(15 + q_l): brought to Q16 and added to the W_ls half.
        pre = self.ls.pre(gs) + rshift_round(self.u * l, self.q_l - 1)
        if self.relu:
            return s, sat16(rshift_round(np.maximum(pre, 0), 16 - self.q_l))
        return s, rshift_round(tanh_q15(pre), 15 - self.q_l)


class DuRNNSpec(CellSpec):
    """Stacked DuRNN modules (see DuRNNModuleQ); the state of module m is s{m}, l{m}; the cell's
    output is the top module's l. Fitted by plan.fit_durnn (three matrix phases per module)."""

    kind, kernel_kind, bounded = "durnn", 6, False

    def state_len(self, cell):
        ev = lambda n: n + n % 2  # noqa: E731
        return sum(3 * ev(m.short_dim) + 2 * ev(m.hidden_dim) for m in cell.modules)

    def zero_state(self, cell, batch):
        z = lambda n: np.zeros((batch, n), dtype=np.int64)  # noqa: E731
        return {**{f"s{i}": z(m.short_dim) for i, m in enumerate(cell.modules)},
                **{f"l{i}": z(m.hidden_dim) for i, m in enumerate(cell.modules)}}

    def output_name(self, cell):
        return f"l{len(cell.modules) - 1}"

    def state_q(self, cell, name):
        return 15 if name.startswith("s") else cell.modules[int(name[1:])].q_l

    def step(self, cell, x, state):
        new, inp = {}, x
        for i, m in enumerate(cell.modules):
            new[f"s{i}"], new[f"l{i}"] = m.step(inp, state[f"s{i}"], state[f"l{i}"])
            inp = new[f"l{i}"]
        return new


CELL_SPECS: dict[str, CellSpec] = {s.kind: s for s in (LSTMSpec(), GRUSpec(), FastGRNNSpec(), MinGRUSpec(),
                                                       MinLSTMSpec(), DuRNNSpec())}
