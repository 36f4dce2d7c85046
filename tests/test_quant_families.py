"""Every cell family in the int16 plan, at both ShaRNN levels and alone: the host-compiled C equals the
numpy reference bit for bit, and both follow the float step of the cell (written out here in numpy
from each cell's definition in workbench/models/cells.py) to within quantization error."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from tests.conftest import tiny_model
from workbench.build.host import HostKernel, build_host_library
from workbench.export.c import export_c
from workbench.models.modelfile import ModelFile
from workbench.quantize import reference
from workbench.quantize.plan import quantize_tensors


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def g(v):
    return np.where(v >= 0, v + 0.5, sigmoid(v))


def random_weights(kind: str, i: int, h: int, rng, options: dict | None = None) -> dict[str, np.ndarray]:
    """Effective weights as the torch cells report them (``effective_weights()`` names)."""
    n = lambda *shape, s=0.4: s * rng.normal(size=shape)  # noqa: E731
    if kind == "durnn":
        opts = options or {}
        w, inp, short = {}, i, opts.get("short_size", h)
        for j in range(opts.get("layers", 1)):
            u_ss = n(short, short)
            u_ss *= np.minimum(1.0, 0.9 / np.abs(u_ss).sum(axis=1, keepdims=True))   # ||U_ss||_inf <= 0.9
            w.update({f"stack.{j}.W_sx": n(short, inp), f"stack.{j}.U_ss": u_ss, f"stack.{j}.b_s": n(short),
                      f"stack.{j}.W_gx": n(short, inp), f"stack.{j}.W_gs": n(short, short),
                      f"stack.{j}.b_g": n(short), f"stack.{j}.W_ls": n(h, short), f"stack.{j}.b_l": n(h, s=0.1),
                      f"stack.{j}.u": np.tanh(rng.uniform(0.5, 1.5, size=h))})
            inp = h
        return w
    if kind == "lstm":
        return {"rnn.weight_ih_l0": n(4 * h, i), "rnn.weight_hh_l0": n(4 * h, h), "rnn.bias_ih_l0": n(4 * h),
                "rnn.bias_hh_l0": n(4 * h)}
    if kind == "gru":
        return {"rnn.weight_ih_l0": n(3 * h, i), "rnn.weight_hh_l0": n(3 * h, h), "rnn.bias_ih_l0": n(3 * h),
                "rnn.bias_hh_l0": n(3 * h)}
    if kind == "fastgrnn":
        return {"W": n(h, i), "U": n(h, h), "b_z": n(h, s=1.0), "b_h": n(h, s=1.0), "zeta": sigmoid(np.array(1.0)),
                "nu": sigmoid(np.array(-4.0))}
    names = {"mingru": "zh", "minlstm": "fih"}[kind]
    return {**{f"weight_{c}": n(h, i) for c in names}, **{f"bias_{c}": n(h) for c in names}}


def float_step(kind: str, w: dict, x, state, options: dict | None = None):
    """One step of the cell in float64, from its definition (DuRNN state: (l, s) per module, bottom first)."""
    h = state[0]
    if kind == "durnn":
        relu = (options or {}).get("long_activation", "relu") == "relu"
        new, inp = [], x
        for j in range(len(state) // 2):
            p = f"stack.{j}."
            l, s = state[2 * j], state[2 * j + 1]
            s = np.tanh(inp @ w[p + "W_sx"].T + s @ w[p + "U_ss"].T + w[p + "b_s"])
            gate = sigmoid(inp @ w[p + "W_gx"].T + s @ w[p + "W_gs"].T + w[p + "b_g"])
            pre = (gate * s) @ w[p + "W_ls"].T + w[p + "u"] * l + w[p + "b_l"]
            l = np.maximum(pre, 0) if relu else np.tanh(pre)
            new += [l, s]
            inp = l
        return (new[-2], *new)        # (output, l0, s0, l1, s1, ...)
    if kind == "lstm":
        gates = x @ w["rnn.weight_ih_l0"].T + w["rnn.bias_ih_l0"] + h @ w["rnn.weight_hh_l0"].T + w["rnn.bias_hh_l0"]
        i, f, gg, o = np.split(gates, 4, axis=-1)
        c = sigmoid(f) * state[1] + sigmoid(i) * np.tanh(gg)
        return sigmoid(o) * np.tanh(c), c
    if kind == "gru":
        gx = x @ w["rnn.weight_ih_l0"].T + w["rnn.bias_ih_l0"]
        gh = h @ w["rnn.weight_hh_l0"].T + w["rnn.bias_hh_l0"]
        (xr, xz, xn), (hr, hz, hn) = np.split(gx, 3, axis=-1), np.split(gh, 3, axis=-1)
        r, z = sigmoid(xr + hr), sigmoid(xz + hz)
        return ((1 - z) * np.tanh(xn + r * hn) + z * h,)
    if kind == "fastgrnn":
        a = x @ w["W"].T + h @ w["U"].T
        z = sigmoid(a + w["b_z"])
        return ((w["zeta"] * (1 - z) + w["nu"]) * np.tanh(a + w["b_h"]) + z * h,)
    lin = {c: x @ w[f"weight_{c}"].T + w[f"bias_{c}"] for c in {"mingru": "zh", "minlstm": "fih"}[kind]}
    if kind == "mingru":
        z = sigmoid(lin["z"])
        return ((1 - z) * h + z * g(lin["h"]),)
    f, i = sigmoid(lin["f"]), sigmoid(lin["i"])
    return ((f / (f + i)) * h + (i / (f + i)) * g(lin["h"]),)


def float_logits(cfg, weights, fc_w, fc_b, mean, inv_std, x):
    """The float model: normalise, lower cell per brick from zero, upper cell over bricks, linear."""
    xn = (x - mean) * inv_std
    levels = 2 if cfg["family"] == "sharnn" else 1

    options = cfg.get("cell_options", [{}, {}])

    def run(lvl, seq):
        kind, w, hidden, opts = cfg["cells"][lvl], weights[lvl], cfg["hidden"][lvl], options[lvl]
        zeros = lambda m: np.zeros((len(seq), m))  # noqa: E731
        if kind == "durnn":
            layers, short = opts.get("layers", 1), opts.get("short_size", hidden)
            state = [zeros(hidden)] + [zeros(hidden), zeros(short)] * layers
            for t in range(seq.shape[1]):
                state = float_step(kind, w, seq[:, t], state[1:], opts)
            return state[0]
        state = (zeros(hidden),) * (2 if kind == "lstm" else 1)
        for t in range(seq.shape[1]):
            state = float_step(kind, w, seq[:, t], state)
        return state[0]

    if levels == 1:
        top = run(0, xn)
    else:
        n, t, d = xn.shape
        k = cfg["k"]
        v = run(0, xn.reshape(n * t // k, k, d)).reshape(n, t // k, -1)
        top = run(1, v)
    return top @ fc_w.T + fc_b


FAMILIES = ["fastgrnn", "mingru", "minlstm", "durnn"]
DURNN_2 = {"layers": 2, "short_size": 6, "long_activation": "tanh"}
CASES = ([("sharnn", (c, c), None) for c in FAMILIES]
         + [("sharnn", pair, None) for pair in (("fastgrnn", "lstm"), ("gru", "mingru"), ("minlstm", "fastgrnn"))]
         + [("sharnn", ("durnn", "gru"), [DURNN_2, {}]), ("sharnn", ("lstm", "durnn"), [{}, DURNN_2])]
         + [("rnn", (c,), None) for c in FAMILIES])


@pytest.mark.parametrize("family,cells,options", CASES,
                         ids=[f"{f}-{'-'.join(c)}" + ("-opts" if o else "") for f, c, o in CASES])
def test_family_reference_equals_host_c_and_follows_float(tmp_path, family, cells, options):
    rng = np.random.default_rng(zlib.crc32("-".join(cells).encode()))
    window, dim, classes, hidden = 40, 5, 6, (9, 7)[:len(cells)]      # odd sizes: padded blocks and units
    options = options or [{} for _ in cells]
    cfg = {"family": family, "cells": list(cells), "hidden": list(hidden), "window": window, "input_dim": dim,
           "num_classes": classes, "cell_options": options, **({"k": 8} if family == "sharnn" else {})}
    ins = [dim, hidden[0]]
    weights = [random_weights(c, ins[lvl], hidden[lvl], rng, options[lvl]) for lvl, c in enumerate(cells)]
    fc_w, fc_b = 0.5 * rng.normal(size=(classes, hidden[-1])), 0.1 * rng.normal(size=classes)
    mean, inv_std = rng.normal(size=dim).astype(np.float32), rng.uniform(0.5, 2, size=dim).astype(np.float32)
    calib = (mean + rng.normal(size=(40, window, dim)) / inv_std).astype(np.float32)
    mf = ModelFile(cfg, {"fc.weight": fc_w, "fc.bias": fc_b})
    qm = quantize_tensors(cfg, weights, fc_w, fc_b, mean, inv_std, calib, mf.content_hash)
    info = export_c(mf, tmp_path / "export", qm)
    kernel = HostKernel(build_host_library(info, tmp_path / "host"), info)

    x = calib[:8]
    xq = qm.quantize_inputs(x)
    ref = reference.infer(qm, xq)
    for i in range(len(x)):
        assert (kernel.infer(xq[i]) == ref[i]).all()
    if family == "sharnn":
        kernel.stream_reset()
        outs = [kernel.stream_push(xq[0, b * 8:(b + 1) * 8]) for b in range(window // 8)]
        assert (outs[-1] == ref[0]).all()
    fl = float_logits(cfg, weights, fc_w, fc_b, mean, inv_std, x.astype(np.float64))
    err = np.abs(qm.logits_to_float(ref) - fl).max()
    print(cells, f"max |int - float| logit error {err:.2e} (logits up to {np.abs(fl).max():.2f})")
    assert err < 5e-3 * max(1.0, np.abs(fl).max()), (err, np.abs(fl).max())
    assert (qm.logits_to_float(ref).argmax(1) == fl.argmax(1)).mean() >= 0.75


@pytest.mark.parametrize("cells", [("fastgrnn", "mingru"), ("minlstm", "durnn"), ("durnn", "lstm"), ("gru", "minlstm")])
def test_plan_reads_the_torch_modules_of_every_family(cells):
    """From a torch model (not from hand-made weight dicts): the plan finds each cell's parameters
    under the module's own names (minGRU/minLSTM keep theirs in stack.0.*), and the integer
    reference follows torch's logits."""
    from workbench.models.modelfile import from_module
    from workbench.models.train import predict_logits
    from workbench.pipeline import quantize

    model = tiny_model(cells=cells, hidden=(9, 7), k=10).eval()
    x = np.random.default_rng(0).normal(size=(16, 100, 6)).astype(np.float32)
    qm = quantize(from_module(model), "q15", x)
    got = qm.logits_to_float(reference.infer(qm, qm.quantize_inputs(x)))
    want = predict_logits(model, x)
    assert np.abs(got - want).max() < 5e-3 * max(1.0, np.abs(want).max())


STACKS = [("sharnn", ("mingru", "minlstm"), [{"layers": 2}, {"layers": 3}]),
          ("sharnn", ("minlstm", "gru"), [{"layers": 2}, {}]), ("rnn", ("mingru",), [{"layers": 2}])]


@pytest.mark.parametrize("family,cells,options", STACKS, ids=["-".join(c) for _, c, _ in STACKS])
def test_stacked_layers_equal_host_c_and_follow_torch(tmp_path, family, cells, options):
    """minGRU/minLSTM with stacked layers (`layers`): each layer reads the one below's h in its own
    Q format; the host C (the cells chained by `above`) equals the reference, full and streamed."""
    from workbench.models.modelfile import from_module
    from workbench.models.train import predict_logits
    from workbench.pipeline import quantize

    model = tiny_model(cells=cells, hidden=(9, 7), k=10, input_dim=5, family=family, options=options)
    x = np.random.default_rng(3).normal(size=(16, 100, 5)).astype(np.float32)
    mf = from_module(model)
    qm = quantize(mf, "q15", x)
    assert [len(c.get("layers", [])) + 1 for c in qm.summary()["cells"]] == [o.get("layers", 1) for o in options]
    info = export_c(mf, tmp_path / "export", qm)
    kernel = HostKernel(build_host_library(info, tmp_path / "host"), info)
    xq = qm.quantize_inputs(x)
    ref = reference.infer(qm, xq)
    assert all((kernel.infer(xq[i]) == ref[i]).all() for i in range(len(x)))
    if family == "sharnn":
        kernel.stream_reset()
        outs = [kernel.stream_push(xq[1, b * 10:(b + 1) * 10]) for b in range(10)]
        assert (outs[-1] == ref[1]).all()
    want = predict_logits(model, x)
    assert np.abs(qm.logits_to_float(ref) - want).max() < 5e-3 * max(1.0, np.abs(want).max())
