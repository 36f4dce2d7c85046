"""The numpy integer reference of the quantized model: full windows, streaming, sliding streams.

This is the golden model: the C kernel (host-compiled and on the device, portable and DSP paths)
must produce exactly these int32 logits. Batched over windows (and over bricks: ShaRNN's lower level
runs every brick from a zero state, so all bricks of all windows go through it at once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workbench.quantize.cells import CellQ

if TYPE_CHECKING:
    from workbench.quantize.plan import QuantModel


def run_cell(cell: CellQ, xs: np.ndarray, observe: dict | None = None) -> np.ndarray:
    """Run ``cell`` over xs[B, S, I] from a zero state; returns the final h [B, H] (int64).
    ``observe``: a dict updated with the largest |value| (real units) each state tensor reached."""
    xs = np.asarray(xs, dtype=np.int64)
    state = cell.zero_state(xs.shape[0])
    for s in range(xs.shape[1]):
        state = cell.step(xs[:, s], state)
        if observe is not None:
            for name, v in state.items():
                peak = float(np.abs(v).max(initial=0)) / 2.0 ** cell.state_q(name)
                observe[name] = max(observe.get(name, 0.0), peak)
    return cell.output(state)


def classify(qm: QuantModel, h: np.ndarray) -> np.ndarray:
    return h @ qm.fc_w[:, :h.shape[1]].T + qm.fc_b


def brick_outputs(qm: QuantModel, x_q: np.ndarray, observe: dict | None = None) -> np.ndarray:
    """x_q[N, m*k, D_pad] -> lower-cell outputs of every brick [N, m, H1]."""
    n, t, d = x_q.shape
    bricks = x_q.reshape(n * (t // qm.k), qm.k, d)
    return run_cell(qm.cells[0], bricks, observe).reshape(n, t // qm.k, -1)


def infer(qm: QuantModel, x_q: np.ndarray, observe: list[dict] | None = None) -> np.ndarray:
    """Device inputs x_q[N, T, D_pad] (int16) -> int32 logits [N, C] (as int64)."""
    x_q = np.asarray(x_q, dtype=np.int64)
    if qm.levels == 1:
        return classify(qm, run_cell(qm.cells[0], x_q, observe[0] if observe else None))
    v = brick_outputs(qm, x_q, observe[0] if observe else None)
    return classify(qm, run_cell(qm.cells[1], v, observe[1] if observe else None))


def observe_ranges(qm: QuantModel, x_q: np.ndarray) -> list[dict]:
    seen = [{} for _ in qm.cells]
    infer(qm, x_q, seen)
    return seen


def sliding(qm: QuantModel, stream_q: np.ndarray) -> np.ndarray:
    """A long stream stream_q[L, D_pad] pushed brick by brick (L a multiple of k): logits of the
    window ending at every brick from the (T/k)-th on, [L/k - T/k + 1, C] — what a device that keeps
    the brick outputs (paper's Claim 1) answers to each push."""
    if qm.levels != 2:
        raise ValueError("only a ShaRNN streams by bricks")
    stream_q = np.asarray(stream_q, dtype=np.int64)
    nb = qm.window // qm.k
    v = brick_outputs(qm, stream_q[None])[0]                                     # [L/k, H1]
    windows = np.stack([v[i:i + nb] for i in range(len(v) - nb + 1)])            # [W, nb, H1]
    return classify(qm, run_cell(qm.cells[1], windows))
