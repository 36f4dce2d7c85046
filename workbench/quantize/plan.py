"""The fixed-point plan: a Q format for every tensor, chosen from the trained weights and the ranges
the model reaches on calibration data, and the integer tensors that follow from it.

Rules (the kernel's correctness rests on them; ``check_bounds`` verifies them for every row):
- Scales are powers of two. Weights: int16, per tensor, the largest Q that holds the tensor's
  largest magnitude *and* keeps every accumulator row provably inside int32 for any int16 input:
  ``|b| + sum|w| * 32768 + 2**(shift-1) <= 2**31 - 1``. So the kernel never saturates or wraps an
  accumulator (SMLAD wraps silently), and the order of summation cannot matter: the DSP and
  portable paths and numpy give the same integers.
- Hidden states of bounded cells (|h| < 1: LSTM, GRU) are Q15; the others (FastGRNN, minGRU,
  minLSTM) and the LSTM cell state are int16 with a Q format from their calibrated range with 1.5x
  headroom (saturating beyond): a first pass of the integer reference with wide provisional formats
  measures the ranges on the calibration windows, the second is the plan.
- Inputs: the host folds the model's normalisation into the input quantizer,
  ``x_q = sat16(round_half_up((x - mean) * inv_std * 2**q_in))``, with q_in from the calibrated range
  of the normalised inputs (1.25x headroom); channels are padded to an even count with zeros. The
  device takes these int16 values: host-to-device bytes are what bound an emulated link.
- Gate pre-activations enter tanh/sigmoid in Q16; logits leave as int32 at Q(q_fc + q_h) (the host
  divides by 2**q_out for float logits; the class is the argmax either way).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import WorkbenchError
from workbench.quantize import reference
from workbench.quantize.cells import ABOVE, CELL_SPECS, CellQ, DuRNNModuleQ, MatQ, layer_weights
from workbench.quantize.fixedpoint import Q15_MAX, Q15_MIN, rshift_round

INT32_MAX = 2 ** 31 - 1
V_MAX = 32768                     # largest |int16| a vector element can hold
INPUT_HEADROOM = 1.25
STATE_HEADROOM = 1.5
PROVISIONAL_Q_C = 10              # calibration pass: LSTM cell state range +-32
PROVISIONAL_Q_H = 8               # calibration pass: unbounded hidden states +-128
MAX_CALIBRATION_WINDOWS = 256


def q_for(maxabs: float, headroom: float = 1.0, hi: int = 15) -> int:
    """Largest Q (<= hi) with maxabs * headroom * 2**Q <= 32767."""
    if not np.isfinite(maxabs):
        raise WorkbenchError("the model or its calibration data holds a non-finite value (NaN or inf)")
    if maxabs <= 0:
        return hi
    return min(hi, math.floor(math.log2(Q15_MAX / (maxabs * headroom))))


def to_int(v, q: int) -> np.ndarray:
    """Round half up to the integer grid of Q q (int64 array)."""
    return np.floor(np.asarray(v, dtype=np.float64) * 2.0 ** q + 0.5).astype(np.int64)


def pad_cols(w: np.ndarray) -> np.ndarray:
    return np.pad(w, ((0, 0), (0, w.shape[1] % 2)))


def acc_bound(w_q: np.ndarray, b_q: np.ndarray) -> np.ndarray:
    """Largest |accumulator| each row can reach for any int16 vector."""
    return np.abs(b_q) + np.abs(w_q).sum(axis=1) * V_MAX


def fit_matrix(w: np.ndarray, b: np.ndarray, q_v: int, name: str,
               shift_to: int | None) -> tuple[int, np.ndarray, np.ndarray]:
    """Q of a weight matrix applied to a vector in Q q_v, with its bias at the product scale, such
    that no accumulator row can leave int32 (rounding constant of the later shift included).
    ``shift_to``: the Q the accumulator is shifted to afterwards (None: kept as is)."""
    w = np.asarray(w, dtype=np.float64)
    q = q_for(float(np.abs(w).max()) if w.size else 0.0, hi=30)
    lowest = (shift_to - q_v) if shift_to is not None else -30
    while q >= lowest:
        w_q, b_q = to_int(w, q), to_int(b, q + q_v)
        shift = (q + q_v - shift_to) if shift_to is not None else 0
        if np.all(np.abs(w_q) <= Q15_MAX) and np.all(acc_bound(w_q, b_q) + ((1 << shift) >> 1) <= INT32_MAX):
            return q, pad_cols(w_q), b_q
        q -= 1
    raise WorkbenchError(f"{name}: weights, bias and inputs span too wide a range for the int16 plan "
                         f"(the accumulator would need a scale below Q{shift_to})")


def _fit_cell(kind: str, weights: dict, q_x: int, input_dim: int, hidden: int, q_h: int, q_c: int | None,
              where: str) -> CellQ:
    spec = CELL_SPECS[kind]
    wx, wh, bx, bh = spec.float_tensors(weights)
    q_wx, wx_q, bx_q = fit_matrix(wx, bx, q_x, f"{where} input weights", 16)
    if wh is None:
        q_wh, wh_q, bh_q = 0, np.zeros((len(wx_q), 0), dtype=np.int64), np.zeros(len(wx_q), dtype=np.int64)
    else:
        q_wh, wh_q, bh_q = fit_matrix(wh, bh, q_h, f"{where} recurrent weights", 16)
    aux, params = spec.extras(weights, hidden)
    cell = CellQ(kind=kind, input_dim=input_dim, hidden_dim=hidden, q_x=q_x, q_h=q_h, q_wx=q_wx, q_wh=q_wh,
                 w_x=wx_q, w_h=wh_q, b_x=bx_q, b_h=bh_q, q_c=q_c if kind == "lstm" else None, aux=aux,
                 params=params)
    # The two Q16 halves are added (plus a Q16 bias of some cells; in a GRU the h half is first
    # multiplied by r < 1): the sum must stay inside int32.
    pre = rshift_round(acc_bound(wx_q, bx_q), cell.shift_x)
    if cell.recurrent:
        pre = pre + rshift_round(acc_bound(wh_q, bh_q), cell.shift_h)
    if aux is not None and (np.abs(aux).max() > INT32_MAX // 2 or np.any(pre + np.abs(aux).max() >= INT32_MAX)):
        raise WorkbenchError(f"{where}: biases out of the Q16 int32 range")
    if np.any(pre >= INT32_MAX):
        raise WorkbenchError(f"{where}: gate pre-activations can exceed the Q16 int32 range")
    return cell


def fit_stack(kind: str, weights: dict, q_x: int, input_dim: int, hidden: int, q_states: dict, where: str) -> CellQ:
    """A level's cell with its stacked layers (minGRU/minLSTM ``layers``): layer j reads layer j-1's h
    in its Q(q_h); layer j's state formats are q_states' names under j times the "above." prefix."""
    layers = layer_weights(weights)
    cells = []
    for j, w in enumerate(layers):
        p = ABOVE * j
        cells.append(_fit_cell(kind, w, q_x, input_dim, hidden, q_states[p + "h"], q_states.get(p + "c"),
                               where + (f" layer {j + 1}" if len(layers) > 1 else "")))
        q_x, input_dim = cells[-1].q_h, hidden
    for lower, upper in zip(cells, cells[1:]):
        lower.above = upper
    return cells[0]


def fit_durnn(weights: dict, q_x: int, input_dim: int, hidden: int, options: dict, q_states: dict,
              where: str) -> CellQ:
    """A DuRNN's modules: each module's five matrices get their own Q (inputs in Q(q_x) for the
    first module, in the previous module's Q(q_l) after; s and g s' in Q15), u in Q15."""
    relu = options.get("long_activation", "relu") == "relu"
    modules, q_v, in_dim = [], q_x, input_dim
    for m in range(sum(1 for k in weights if k.endswith(".W_sx"))):
        w = {k.split(".", 2)[2]: v for k, v in weights.items() if k.startswith(f"stack.{m}.")}
        short, zeros_s = len(w["b_s"]), np.zeros(len(w["b_s"]))
        here = f"{where} module {m + 1}"
        mats = [fit_matrix(*args, 16) for args in (
            (w["W_sx"], w["b_s"], q_v, f"{here} W_sx"), (w["U_ss"], zeros_s, 15, f"{here} U_ss"),
            (w["W_gx"], w["b_g"], q_v, f"{here} W_gx"), (w["W_gs"], zeros_s, 15, f"{here} W_gs"),
            (w["W_ls"], w["b_l"], 15, f"{here} W_ls"))]
        sx, ss, gx, gs, ls = (MatQ(q, qv, wq, bq) for (q, wq, bq), qv in zip(mats, (q_v, 15, q_v, 15, 15)))
        q_l = q_states.get(f"l{m}", 15)
        mod = DuRNNModuleQ(input_dim=in_dim, short_dim=short, hidden_dim=hidden, q_l=q_l, relu=relu, sx=sx, ss=ss,
                           gx=gx, gs=gs, ls=ls, u=np.clip(to_int(w["u"], 15), -Q15_MAX, Q15_MAX))
        for a, b in ((sx, ss), (gx, gs)):
            if np.any(rshift_round(acc_bound(a.w, a.b), a.shift) + rshift_round(acc_bound(b.w, b.b), b.shift)
                      >= INT32_MAX):
                raise WorkbenchError(f"{here}: pre-activations can exceed the Q16 int32 range")
        if np.any(rshift_round(acc_bound(ls.w, ls.b), ls.shift) + (1 << (32 - q_l)) >= INT32_MAX):
            raise WorkbenchError(f"{here}: pre-activations can exceed the Q16 int32 range")
        modules.append(mod)
        q_v, in_dim = q_l, hidden
    empty = np.zeros((0, 0), dtype=np.int64)
    return CellQ(kind="durnn", input_dim=input_dim, hidden_dim=hidden, q_x=q_x, q_h=modules[-1].q_l, q_wx=0,
                 q_wh=0, w_x=empty, w_h=empty, b_x=np.zeros(0, np.int64), b_h=np.zeros(0, np.int64), modules=modules)


def provisional_states(kind: str, weights: dict, options: dict) -> dict[str, int]:
    """Q formats of a cell's state tensors for the calibration pass: fixed where the cell bounds the
    state, wide (to be measured) elsewhere."""
    spec = CELL_SPECS[kind]
    if kind == "durnn":
        relu = options.get("long_activation", "relu") == "relu"
        return {f"l{m}": PROVISIONAL_Q_H if relu else 15 for m in range(sum(k.endswith(".W_sx") for k in weights))}
    q = {"h": 15 if spec.bounded else PROVISIONAL_Q_H}
    if kind == "lstm":
        q["c"] = PROVISIONAL_Q_C
    return {ABOVE * j + name: v for j in range(len(layer_weights(weights))) for name, v in q.items()}


def cell_weights(mf) -> list[dict[str, np.ndarray]]:
    """Each level's effective weights (float64 numpy) from the model's torch cells. minGRU/minLSTM keep
    each layer's under ``stack.{j}.`` (``cells.layer_weights`` splits them), DuRNN each module's."""
    model = mf.build()
    cells = [model.cell1, model.cell2] if mf.config.get("family") == "sharnn" else [model.cell]
    out = []
    for c in cells:
        w = c.effective_weights() if hasattr(c, "effective_weights") else dict(c.named_parameters())
        out.append({k: v.detach().cpu().double().numpy() for k, v in w.items()})
    return out


@dataclass
class QuantModel:
    """A model in the int16 plan: what the exporter writes and the numpy reference runs."""

    scheme: str
    config: dict
    model_hash: str
    levels: int
    window: int
    k: int
    input_dim: int
    num_classes: int
    q_in: int
    in_mean: np.ndarray
    in_inv_std: np.ndarray
    cells: list[CellQ]
    q_fc: int
    fc_w: np.ndarray            # [C, H_top padded]
    fc_b: np.ndarray            # [C] at Q(q_fc + q_h of the top cell)
    calibration: dict = field(default_factory=dict)

    @property
    def input_dim_padded(self) -> int:
        return self.input_dim + self.input_dim % 2

    @property
    def q_out(self) -> int:
        return self.q_fc + self.cells[-1].top.q_h

    def quantize_inputs(self, x: np.ndarray) -> np.ndarray:
        """Raw windows x[..., T, D] (float) -> the device's int16 inputs x_q[..., T, D_pad]."""
        x = np.asarray(x, dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            xn = (x - self.in_mean) * self.in_inv_std      # float32, as the float model computes it
            # Saturate before the cast to integers: a float->int cast of inf or NaN is undefined (and
            # differs between x86 and Arm hosts). NaN goes to the minimum, as the generated C does.
            scaled = np.nan_to_num(np.floor(xn.astype(np.float64) * 2.0 ** self.q_in + 0.5), nan=Q15_MIN)
        q = np.clip(scaled, Q15_MIN, Q15_MAX).astype(np.int16)
        if self.input_dim % 2:
            q = np.concatenate([q, np.zeros(q.shape[:-1] + (1,), dtype=np.int16)], axis=-1)
        return q

    def logits_to_float(self, logits: np.ndarray) -> np.ndarray:
        return np.asarray(logits, dtype=np.float64) / 2.0 ** self.q_out

    def summary(self) -> dict:
        """The plan as plain data (export.json, profiles)."""
        return {"scheme": self.scheme, "q_in": self.q_in, "q_out": self.q_out, "q_fc": self.q_fc,
                "input_dim_padded": self.input_dim_padded,
                "cells": [{"kind": c.kind, "q_x": c.q_x, "q_h": c.q_h, "q_wx": c.q_wx, "q_wh": c.q_wh,
                           "q_c": c.q_c, "shift_x": c.shift_x, "shift_h": c.shift_h,
                           **({"layers": [{"q_x": a.q_x, "q_h": a.q_h, "q_wx": a.q_wx, "shift_x": a.shift_x}
                                          for a in _layers_above(c)]} if c.above is not None else {})}
                          for c in self.cells],
                "calibration": self.calibration}


def _layers_above(cell: CellQ) -> list[CellQ]:
    out = []
    while cell.above is not None:
        cell = cell.above
        out.append(cell)
    return out


def quantize_model(mf, calib_x: np.ndarray, scheme: str = "q15") -> QuantModel:
    """The int16 plan of model file ``mf`` calibrated on raw windows ``calib_x[N, T, D]`` (training
    data; at most MAX_CALIBRATION_WINDOWS evenly spaced windows are used)."""
    cfg = mf.config
    if cfg.get("family") not in ("sharnn", "rnn"):
        raise WorkbenchError(f"the int16 plan does not know model family {cfg.get('family')!r}")
    _check_cells(cfg)
    t = mf.tensors
    return quantize_tensors(cfg, cell_weights(mf), t["fc.weight"], t["fc.bias"], t["norm.mean"], t["norm.inv_std"],
                            calib_x, mf.content_hash, scheme)


def _check_cells(cfg: dict) -> None:
    for c in cfg["cells"]:
        if c not in CELL_SPECS:
            raise WorkbenchError(f"the int16 kernel has no {c!r} cell yet (has: {', '.join(CELL_SPECS)})")


def quantize_tensors(cfg: dict, weights: list[dict], fc_w, fc_b, mean, inv_std, calib_x: np.ndarray,
                     model_hash: str, scheme: str = "q15") -> QuantModel:
    """The plan from plain arrays: ``weights`` holds each level's effective weights (see
    ``cell_weights``), the rest the classifier, the normalisation and the calibration windows."""
    if scheme != "q15":
        raise WorkbenchError(f"quantization {scheme!r} is not supported by this build (have: f32, q15)")
    _check_cells(cfg)
    calib_x = np.asarray(calib_x, dtype=np.float32)
    if calib_x.ndim != 3 or calib_x.shape[1:] != (cfg["window"], cfg["input_dim"]):
        raise WorkbenchError(f"calibration windows are {calib_x.shape[1:]}; the model takes "
                             f"{(cfg['window'], cfg['input_dim'])}")
    if len(calib_x) > MAX_CALIBRATION_WINDOWS:
        calib_x = calib_x[np.linspace(0, len(calib_x) - 1, MAX_CALIBRATION_WINDOWS).round().astype(int)]
    levels = 2 if cfg["family"] == "sharnn" else 1
    specs = [CELL_SPECS[c] for c in cfg["cells"][:levels]]
    mean, inv_std = np.asarray(mean, dtype=np.float32), np.asarray(inv_std, dtype=np.float32)
    max_in = float(np.abs((calib_x - mean) * inv_std).max()) if calib_x.size else 1.0
    q_in = q_for(max_in, INPUT_HEADROOM)

    options = (cfg.get("cell_options") or [{}] * levels)[:levels]
    options = [o or {} for o in options]

    def build(q_states: list[dict[str, int]]) -> QuantModel:
        cells, q_x, in_dim = [], q_in, cfg["input_dim"]
        for lvl in range(levels):
            kind, hidden, qs = cfg["cells"][lvl], cfg["hidden"][lvl], q_states[lvl]
            where = f"{kind} cell {lvl + 1}"
            if kind == "durnn":
                cell = fit_durnn(weights[lvl], q_x, in_dim, hidden, options[lvl], qs, where)
            else:
                cell = fit_stack(kind, weights[lvl], q_x, in_dim, hidden, qs, where)
            cells.append(cell)
            q_x, in_dim = cell.top.q_h, hidden
        q_fc, fc_wq, fc_bq = fit_matrix(fc_w, fc_b, cells[-1].top.q_h, "classifier", None)
        return QuantModel(scheme=scheme, config=dict(cfg), model_hash=model_hash, levels=levels,
                          window=cfg["window"], k=cfg["k"] if levels == 2 else cfg["window"],
                          input_dim=cfg["input_dim"], num_classes=cfg["num_classes"], q_in=q_in, in_mean=mean,
                          in_inv_std=inv_std, cells=cells, q_fc=q_fc, fc_w=fc_wq, fc_b=fc_bq)

    # Pass 1 with wide provisional formats for the states without a fixed range measures them;
    # pass 2 is the plan.
    provisional_qs = [provisional_states(s.kind, weights[i], options[i]) for i, s in enumerate(specs)]
    provisional = build(provisional_qs)
    seen = reference.observe_ranges(provisional, provisional.quantize_inputs(calib_x))
    final = [{name: q if q == 15 else q_for(seen[i].get(name, 0.0), STATE_HEADROOM,
                                             hi=specs[i].max_q_h if name.split(".")[-1] == "h" else 15)
              for name, q in qs.items()} for i, qs in enumerate(provisional_qs)]
    qm = build(final)
    qm.calibration = {"windows": int(len(calib_x)), "max_abs_input": max_in,
                      "max_abs_state": [{k: float(v) for k, v in s.items()} for s in seen]}
    return qm
