"""Every cell against its plain step-by-step reference; minGRU/minLSTM parallel scan against sequential;
minGRU, minLSTM and FastGRNN against float64 numpy recurrences written here from their papers' equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.errors import WorkbenchError
from workbench.models.cells import CELLS, make_cell

# (kind, options): every cell, and every option that changes the math.
VARIANTS = [
    ("lstm", {}), ("gru", {}),
    ("fastgrnn", {}), ("fastgrnn", {"w_rank": 3}), ("fastgrnn", {"w_rank": 2, "u_rank": 4}),
    ("mingru", {}), ("minlstm", {}), ("mingru", {"layers": 2}), ("minlstm", {"layers": 3}),
    ("durnn", {}), ("durnn", {"layers": 2, "short_size": 5, "long_activation": "tanh", "short_radius": 0.7}),
]
IDS = [k + ("-" + "-".join(f"{a}{b}" for a, b in o.items()) if o else "") for k, o in VARIANTS]
# forward (fused/vectorised, float32) vs the step loop (float32): rounding only, over 60 steps.
ATOL = 1e-5


def make(kind, options, seed=0, i=6, h=8):
    torch.manual_seed(seed)
    cell = make_cell(kind, i, h, **options)
    with torch.no_grad():   # move every parameter off its initial value so no term hides
        for p in cell.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return cell


def reference_loop(cell, x, state):
    outs = []
    for t in range(x.shape[1]):
        state = cell.step_reference(x[:, t], state)
        outs.append(state[0])
    return torch.stack(outs, dim=1), state


def test_every_registered_cell_is_covered():
    assert {k for k, _ in VARIANTS} == set(CELLS)


# In eval mode a minGRU/minLSTM's forward *is* the step_reference loop: comparing the two tests nothing, so
# those cases are left out here; test_min_rnn_follows_the_paper checks both modes against numpy instead.
STEP_CASES = [pytest.param(kind, options, mode, id=f"{mode}-{name}") for (kind, options), name in zip(VARIANTS, IDS)
              for mode in ("train", "eval") if not (mode == "eval" and kind in ("mingru", "minlstm"))]


@pytest.mark.parametrize("kind, options, mode", STEP_CASES)
@pytest.mark.parametrize("initial", ["zero", "random"])
def test_cell_matches_step_reference(kind, options, mode, initial):
    cell = make(kind, options)
    cell.train(mode == "train")
    x = torch.randn(5, 60, 6, generator=torch.Generator().manual_seed(1))
    zero = cell.zero_state(5, x)
    assert len(zero) == cell.state_tensors
    state0 = None if initial == "zero" else tuple(torch.randn_like(s) for s in zero)
    with torch.no_grad():
        h, final = cell(x, state0)
        ref_h, ref_final = reference_loop(cell, x, zero if state0 is None else state0)
    assert h.shape == (5, 60, 8)
    assert len(final) == cell.state_tensors
    torch.testing.assert_close(h, ref_h, atol=ATOL, rtol=0)
    for a, b in zip(final, ref_final):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    torch.testing.assert_close(final[0], h[:, -1], atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("initial", ["zero", "random"])
def test_parallel_scan_equals_sequential(kind, layers, initial):
    cell = make(kind, {"layers": layers}, h=16)
    x = 3 * torch.randn(4, 200, 6, generator=torch.Generator().manual_seed(2))
    state0 = None if initial == "zero" else tuple(torch.randn(4, 16) for _ in range(layers))
    with torch.no_grad():
        cell.mode = "parallel"
        hp, fp = cell(x, state0)
        cell.mode = "sequential"
        hs, fs = cell(x, state0)
    assert hs.abs().max() > 1.0         # the comparison is over values of a real size
    assert (hp - hs).abs().max().item() <= 1e-5
    for a, b in zip(fp, fs):
        assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_min_rnn_modes(kind):
    cell = make(kind, {})
    x = torch.randn(2, 30, 6)
    cell.train()
    hp, _ = cell(x)
    assert hp.requires_grad                 # training runs the differentiable parallel scan
    hp.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in cell.parameters())


@pytest.mark.parametrize("kind, options", VARIANTS, ids=IDS)
def test_macs_count_every_weight_once_per_step(kind, options):
    """macs_per_step() equals the number of weight entries (matrices and diagonal recurrences; not biases,
    not scalars): in every cell each weight multiplies one activation once per step."""
    cell = make_cell(kind, 6, 8, **options)
    weights = sum(p.numel() for name, p in cell.named_parameters()
                  if p.dim() >= 1 and "bias" not in name and not name.split(".")[-1].startswith("b_"))
    assert cell.macs_per_step() == weights


@pytest.mark.parametrize("kind, options", VARIANTS, ids=IDS)
def test_config_rebuilds_the_cell(kind, options):
    cell = make_cell(kind, 6, 8, **options)
    cfg = cell.config()
    again = make_cell(cfg["kind"], cfg["input_size"], cfg["hidden_size"], **cfg.get("options", {}))
    assert again.config() == cfg
    assert {n: p.shape for n, p in again.named_parameters()} == {n: p.shape for n, p in cell.named_parameters()}


# --------------------------------------------------------------- independent float64 references (numpy)
# Written from the papers, reading only the cells' parameters (by their documented names), never their code.

def np_sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def np_g(v):
    """Feng et al. 2024, the log-space minGRU/minLSTM's g: g(x) = x + 0.5 for x >= 0, sigmoid(x) below."""
    return np.where(v >= 0, v + 0.5, np_sigmoid(v))


def params64(cell):
    return {name: p.detach().double().numpy() for name, p in cell.named_parameters()}


def np_min_rnn(kind, p, layers, x, h0):
    """minGRU / minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", sequential mode), stacked as the
    cells document it: layer j reads layer j-1's outputs. x [B, T, I]; h0: one [B, H] per layer, bottom first.

        minGRU:  z = sigmoid(W_z x + b_z),  h~ = g(W_h x + b_h),  h_t = (1 - z) h_{t-1} + z h~
        minLSTM: f = sigmoid(W_f x + b_f),  i = sigmoid(W_i x + b_i),  h~ = g(W_h x + b_h),
                 h_t = f / (f + i) h_{t-1} + i / (f + i) h~
    Returns the top layer's outputs [B, T, H] and the final h of every layer (bottom first)."""
    seq, finals = x, []
    for j in range(layers):
        w = {gate: (p[f"stack.{j}.weight_{gate}"], p[f"stack.{j}.bias_{gate}"]) for gate in ("z", "f", "i", "h")
             if f"stack.{j}.weight_{gate}" in p}
        h, outs = h0[j], []
        for t in range(seq.shape[1]):
            x_t = seq[:, t]
            k = {gate: x_t @ weight.T + bias for gate, (weight, bias) in w.items()}     # W_gate x_t + b_gate
            h_tilde = np_g(k["h"])
            if kind == "mingru":
                z = np_sigmoid(k["z"])
                h = (1 - z) * h + z * h_tilde
            else:
                f, i = np_sigmoid(k["f"]), np_sigmoid(k["i"])
                h = f / (f + i) * h + i / (f + i) * h_tilde
            outs.append(h)
        seq = np.stack(outs, axis=1)
        finals.append(h)
    return seq, finals


def np_fastgrnn(p, x, h):
    """FastGRNN (Kusupati et al., NeurIPS 2018, eq. 3-4): W = W1 W2 and U = U1 U2 when low-rank,
    z = sigmoid(W x + U h + b_z),  h~ = tanh(W x + U h + b_h),  h_t = (zeta (1 - z) + nu) h~ + z h_{t-1},
    zeta = sigmoid(zeta_raw), nu = sigmoid(nu_raw). Returns the outputs [B, T, H]."""
    w = p["W"] if "W" in p else p["W1"] @ p["W2"]
    u = p["U"] if "U" in p else p["U1"] @ p["U2"]
    zeta, nu = np_sigmoid(p["zeta"]), np_sigmoid(p["nu"])
    outs = []
    for t in range(x.shape[1]):
        a = x[:, t] @ w.T + h @ u.T
        z = np_sigmoid(a + p["b_z"])
        h = (zeta * (1 - z) + nu) * np.tanh(a + p["b_h"]) + z * h
        outs.append(h)
    return np.stack(outs, axis=1)


# The cells run in float32. Measured max |float32 cell - float64 numpy| over the cases below: minGRU 2.5e-7,
# minLSTM 2.7e-7 (either mode, 60 steps), FastGRNN 1.7e-7. The tolerance is ~10x the largest.
PAPER_ATOL = 3e-6


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
@pytest.mark.parametrize("initial", ["zero", "random"])
def test_min_rnn_follows_the_paper(kind, layers, mode, initial):
    cell = make(kind, {"layers": layers})
    cell.eval()
    cell.mode = mode
    x = torch.randn(5, 60, 6, generator=torch.Generator().manual_seed(1))
    h0 = [torch.randn(5, 8, generator=torch.Generator().manual_seed(10 + j)) for j in range(layers)]
    with torch.no_grad():
        # The state tuple holds the top layer first (cells.py): h0 is bottom first, so reversed.
        h, final = cell(x, None if initial == "zero" else tuple(reversed(h0)))
        step = cell.step_reference(x[:, 0], tuple(reversed(h0)))
    start = [np.zeros((5, 8)) for _ in range(layers)] if initial == "zero" else [s.double().numpy() for s in h0]
    ref, ref_finals = np_min_rnn(kind, params64(cell), layers, x.double().numpy(), start)
    assert np.abs(ref).max() > 0.5                # values of a real size
    np.testing.assert_allclose(h.double().numpy(), ref, atol=PAPER_ATOL, rtol=0)
    for got, want in zip(final, reversed(ref_finals)):
        np.testing.assert_allclose(got.double().numpy(), want, atol=PAPER_ATOL, rtol=0)
    # One step of step_reference from h0 is the paper's first step.
    _, one = np_min_rnn(kind, params64(cell), layers, x[:, :1].double().numpy(), [s.double().numpy() for s in h0])
    for got, want in zip(step, reversed(one)):
        np.testing.assert_allclose(got.double().numpy(), want, atol=PAPER_ATOL, rtol=0)


@pytest.mark.parametrize("options", [{}, {"w_rank": 3}, {"w_rank": 2, "u_rank": 4}], ids=["full", "w3", "w2-u4"])
def test_fastgrnn_follows_the_paper(options):
    cell = make("fastgrnn", options)
    x = torch.randn(5, 60, 6, generator=torch.Generator().manual_seed(1))
    h0 = torch.randn(5, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        h, (final,) = cell(x, (h0,))
        (step,) = cell.step_reference(x[:, 0], (h0,))
    ref = np_fastgrnn(params64(cell), x.double().numpy(), h0.double().numpy())
    assert np.abs(ref).max() > 0.5
    np.testing.assert_allclose(h.double().numpy(), ref, atol=PAPER_ATOL, rtol=0)
    np.testing.assert_allclose(final.double().numpy(), ref[:, -1], atol=PAPER_ATOL, rtol=0)
    np.testing.assert_allclose(step.double().numpy(), ref[:, 0], atol=PAPER_ATOL, rtol=0)


def test_fastgrnn_effective_weights_are_what_the_paper_multiplies():
    """``effective_weights`` is what the kernels export: W and U as full matrices, zeta and nu after the
    sigmoid. Checked against hand-made factors and the known sigmoid values, and by running the paper's
    recurrence on the exported values."""
    cell = make_cell("fastgrnn", 2, 2, w_rank=1, u_rank=1)
    with torch.no_grad():
        cell.W1.copy_(torch.tensor([[1.0], [2.0]]))
        cell.W2.copy_(torch.tensor([[3.0, -1.0]]))
        cell.U1.copy_(torch.tensor([[0.5], [-2.0]]))
        cell.U2.copy_(torch.tensor([[4.0, 0.25]]))
    w = cell.effective_weights()
    assert w["W"].tolist() == [[3.0, -1.0], [6.0, -2.0]]
    assert w["U"].tolist() == [[2.0, 0.125], [-8.0, -0.5]]
    # The parameters start at zeta_raw = 1, nu_raw = -4 (EdgeML): sigmoid(1) = 0.7310585786..., sigmoid(-4) =
    # 0.0179862099...
    assert float(w["zeta"]) == pytest.approx(0.7310585786300049, abs=1e-7)
    assert float(w["nu"]) == pytest.approx(0.0179862099620916, abs=1e-8)

    ranked = make("fastgrnn", {"w_rank": 3, "u_rank": 2})
    eff = {k: v.double().numpy() for k, v in ranked.effective_weights().items()}
    exported = {"W": eff["W"], "U": eff["U"], "b_z": eff["b_z"], "b_h": eff["b_h"],
                # np_fastgrnn applies the sigmoid to zeta/nu: hand it the pre-sigmoid values of the exported ones
                "zeta": np.log(eff["zeta"] / (1 - eff["zeta"])), "nu": np.log(eff["nu"] / (1 - eff["nu"]))}
    x, h0 = np.random.default_rng(4).normal(size=(3, 20, 6)), np.zeros((3, 8))
    np.testing.assert_allclose(np_fastgrnn(exported, x, h0), np_fastgrnn(params64(ranked), x, h0), atol=1e-6, rtol=0)


def test_durnn_constraints_hold_for_any_stored_weights():
    cell = make("durnn", {"short_radius": 0.8})
    with torch.no_grad():
        cell.stack[0].U_ss.mul_(50.0)       # far outside the constraint
        cell.stack[0].u_raw.mul_(50.0)
    w = cell.effective_weights()
    assert w["stack.0.U_ss"].abs().sum(dim=1).max().item() <= 0.8 + 1e-6
    assert w["stack.0.u"].abs().max().item() <= 1.0


def test_durnn_short_term_part_forgets_geometrically():
    """The constrained short-term part is a γ-contraction: a difference in s_{t-n} shrinks by γ^n."""
    gamma = 0.7
    cell = make("durnn", {"short_radius": gamma})
    x = torch.randn(3, 12, 6)
    l0 = torch.zeros(3, 8)
    s_a, s_b = torch.randn(3, 8), torch.randn(3, 8)
    d0 = (s_a - s_b).abs().max().item()
    with torch.no_grad():
        for n in range(1, 13):
            (_, s_a), (_, s_b) = (cell.step_reference(x[:, n - 1], (l0, s_a)),
                                  cell.step_reference(x[:, n - 1], (l0, s_b)))
            assert (s_a - s_b).abs().max().item() <= gamma ** n * d0 + 1e-6


def test_durnn_layers_chain():
    cell = make("durnn", {"layers": 3})
    assert cell.state_tensors == 6
    x = torch.randn(2, 10, 6)
    with torch.no_grad():
        h, state = cell(x)
    # The top module's long-term state is the output; the bottom module reads the input.
    torch.testing.assert_close(state[0], h[:, -1])
    assert cell.stack[0].W_sx.shape == (8, 6) and cell.stack[1].W_sx.shape == (8, 8)


@pytest.mark.parametrize("kind, options, message", [
    ("nosuch", {}, "unknown cell 'nosuch'"),
    ("durnn", {"long_activation": "gelu"}, "long_activation"),
    ("durnn", {"short_radius": 1.5}, "short_radius"),
    ("fastgrnn", {"rank": 2}, "bad options"),
])
def test_bad_cells_are_user_errors(kind, options, message):
    with pytest.raises(WorkbenchError, match=message):
        make_cell(kind, 6, 8, **options)
