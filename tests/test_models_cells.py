"""Every cell against its plain step-by-step reference; minGRU/minLSTM parallel scan against sequential."""

from __future__ import annotations

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


@pytest.mark.parametrize("kind, options", VARIANTS, ids=IDS)
@pytest.mark.parametrize("mode", ["train", "eval"])
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


def test_fastgrnn_effective_weights():
    cell = make("fastgrnn", {"w_rank": 3, "u_rank": 2})
    w = cell.effective_weights()
    torch.testing.assert_close(w["W"], cell.W1 @ cell.W2)
    torch.testing.assert_close(w["U"], cell.U1 @ cell.U2)
    assert 0 < float(w["zeta"]) < 1 and 0 < float(w["nu"]) < 1
    torch.testing.assert_close(w["zeta"], torch.sigmoid(cell.zeta).detach())


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
