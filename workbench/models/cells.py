"""Recurrent cells in torch, each with its math written out once, plainly, in ``step_reference``.

The interface every cell keeps (a ShaRNN takes any cell at either level; a single-level baseline is
one cell and a linear head)::

    forward(x[B, T, I], state=None) -> (h[B, T, H], final_state)   # final_state: tuple of tensors
    kind, input_size, hidden_size, state_tensors                   # state_tensors = len(final_state)
    options() / config()                                           # what rebuilds the cell exactly
    macs_per_step()                                                # see "MACs" below
    step_reference(x_t[B, I], state) -> new_state                  # one step, gate by gate
    effective_weights() -> {name: tensor}                          # the plain tensors step_reference uses

``final_state[0]`` is always the cell's output h at the last step (what ShaRNN passes up a level).
A missing ``state`` means zeros. ``forward`` may be vectorised or fused (torch's LSTM/GRU, the
minGRU/minLSTM log-space scan); ``step_reference`` is the specification it must match and the form
the fixed-point C kernels port. Where a parameter is reparametrised (FastGRNN's ζ/ν, DuRNN's
constrained recurrences) ``effective_weights`` gives the value the step actually uses, so a kernel
exports those and never re-implements the reparametrisation.

MACs
----
``macs_per_step`` counts multiply-accumulates of a weight with an activation: every matrix-vector
product, plus the diagonal (element-wise weight × state) recurrences of DuRNN. It leaves out biases,
activation functions and the element-wise products of two activations (gate ⊙ state), which cost
O(H) per step against the O(H·(I+H)) of the products. Formulas (I input, H hidden):

    lstm      4·H·(I+H)                 gru      3·H·(I+H)
    fastgrnn  H·I + H·H                 (low rank r_w / r_u: r_w·(I+H), r_u·2H in place of H·I, H·H)
    mingru    2·H·I                     minlstm  3·H·I          (each further layer: 2·H·H / 3·H·H)
    durnn     per module: S·(2I + 2S + H) + H      (S = short-term size, I = the module's input)

Cells:
- ``lstm``, ``gru``: torch's fused layers for training speed, with torch's parameter names and gate
  order (LSTM: i, f, g, o; GRU: r, z, n), which the exporter and the C kernel follow.
- ``fastgrnn``: Kusupati et al., NeurIPS 2018.
- ``mingru``, ``minlstm``: Feng et al., 2024, "Were RNNs All We Needed?" (log-space variant, with g()).
- ``durnn``: Zhang et al., 2020, arXiv 2005.13867 (our reading of the paper: see ``DuRNN``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Cell(nn.Module):
    kind: str = ""
    state_tensors: int = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)

    def options(self) -> dict:
        """Constructor options beyond the two sizes (stored in the model config as ``cell_options``)."""
        return {}

    def config(self) -> dict:
        return {"kind": self.kind, "input_size": self.input_size, "hidden_size": self.hidden_size,
                **({"options": self.options()} if self.options() else {})}

    def macs_per_step(self) -> int:
        raise NotImplementedError

    def zero_state(self, batch: int, like: torch.Tensor) -> tuple:
        return tuple(torch.zeros(batch, n, dtype=like.dtype, device=like.device) for n in self.state_sizes())

    def state_sizes(self) -> list[int]:
        return [self.hidden_size] * self.state_tensors

    def step_reference(self, x_t, state):
        raise NotImplementedError

    def effective_weights(self) -> dict[str, torch.Tensor]:
        return {name: p.detach() for name, p in self.named_parameters()}


# --------------------------------------------------------------------------------------------- LSTM, GRU

class LSTM(Cell):
    """c = σ(f) ⊙ c + σ(i) ⊙ tanh(g);  h = σ(o) ⊙ tanh(c), with [i f g o] = W_ih x + b_ih + W_hh h + b_hh."""

    kind = "lstm"
    state_tensors = 2

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)

    def macs_per_step(self) -> int:
        return 4 * self.hidden_size * (self.input_size + self.hidden_size)

    def forward(self, x, state=None):
        if state is not None:
            state = (state[0].unsqueeze(0), state[1].unsqueeze(0))
        out, (h, c) = self.rnn(x, state)
        return out, (h[0], c[0])

    def step_reference(self, x_t, state):
        h, c = state
        gates = x_t @ self.rnn.weight_ih_l0.T + self.rnn.bias_ih_l0 + h @ self.rnn.weight_hh_l0.T + self.rnn.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class GRU(Cell):
    """r, z = σ(.); n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn));  h = (1 − z) ⊙ n + z ⊙ h."""

    kind = "gru"
    state_tensors = 1

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.rnn = nn.GRU(input_size, hidden_size, batch_first=True)

    def macs_per_step(self) -> int:
        return 3 * self.hidden_size * (self.input_size + self.hidden_size)

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


# -------------------------------------------------------------------------------------------- FastGRNN

class FastGRNN(Cell):
    """FastGRNN (Kusupati et al., NeurIPS 2018), one step::

        a   = W x_t + U h_{t-1}                  W = W1 @ W2 when w_rank is set (W1 [H, r_w], W2 [r_w, I])
        z   = σ(a + b_z)                         U = U1 @ U2 when u_rank is set (U1 [H, r_u], U2 [r_u, H])
        h~  = tanh(a + b_h)
        h_t = (ζ (1 − z) + ν) ⊙ h~ + z ⊙ h_{t-1},     ζ = σ(zeta), ν = σ(nu)   (scalars)

    The gate and the candidate share the products W x and U h: that sharing is FastGRNN's saving.
    Parameters (and initial values) follow the authors' EdgeML code: ``zeta``/``nu`` are stored before
    the sigmoid (init 1 and −4), biases start at 1, W and U at 0.1·N(0, 1). EdgeML names the low-rank
    factors the other way round (its W1 is our W2): ``workbench.models.edgeml`` maps them.
    """

    kind = "fastgrnn"
    state_tensors = 1

    def __init__(self, input_size: int, hidden_size: int, w_rank: int | None = None, u_rank: int | None = None):
        super().__init__(input_size, hidden_size)
        self.w_rank = None if w_rank is None else int(w_rank)
        self.u_rank = None if u_rank is None else int(u_rank)
        i, h = self.input_size, self.hidden_size
        if self.w_rank is None:
            self.W = nn.Parameter(0.1 * torch.randn(h, i))
        else:
            self.W1 = nn.Parameter(0.1 * torch.randn(h, self.w_rank))
            self.W2 = nn.Parameter(0.1 * torch.randn(self.w_rank, i))
        if self.u_rank is None:
            self.U = nn.Parameter(0.1 * torch.randn(h, h))
        else:
            self.U1 = nn.Parameter(0.1 * torch.randn(h, self.u_rank))
            self.U2 = nn.Parameter(0.1 * torch.randn(self.u_rank, h))
        self.b_z = nn.Parameter(torch.ones(h))
        self.b_h = nn.Parameter(torch.ones(h))
        self.zeta = nn.Parameter(torch.tensor(1.0))
        self.nu = nn.Parameter(torch.tensor(-4.0))

    def options(self) -> dict:
        return {k: v for k, v in (("w_rank", self.w_rank), ("u_rank", self.u_rank)) if v is not None}

    def macs_per_step(self) -> int:
        i, h = self.input_size, self.hidden_size
        w = h * i if self.w_rank is None else self.w_rank * (i + h)
        u = h * h if self.u_rank is None else self.u_rank * 2 * h
        return w + u

    def _wx(self, x):
        return x @ self.W.T if self.w_rank is None else (x @ self.W2.T) @ self.W1.T

    def _uh(self, h):
        return h @ self.U.T if self.u_rank is None else (h @ self.U2.T) @ self.U1.T

    def forward(self, x, state=None):
        b, t, _ = x.shape
        h = self.zero_state(b, x)[0] if state is None else state[0]
        wx = self._wx(x)                      # all input products at once; only U h is sequential
        zeta, nu = torch.sigmoid(self.zeta), torch.sigmoid(self.nu)
        out = []
        for s in range(t):
            a = wx[:, s] + self._uh(h)
            z = torch.sigmoid(a + self.b_z)
            h = (zeta * (1 - z) + nu) * torch.tanh(a + self.b_h) + z * h
            out.append(h)
        return torch.stack(out, dim=1), (h,)

    def step_reference(self, x_t, state):
        (h,) = state
        w = self.effective_weights()
        a = x_t @ w["W"].T + h @ w["U"].T
        z = torch.sigmoid(a + w["b_z"])
        h_tilde = torch.tanh(a + w["b_h"])
        return ((w["zeta"] * (1 - z) + w["nu"]) * h_tilde + z * h,)

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """W and U as full matrices (the low-rank product when ranked), ζ and ν after their sigmoid.
        A kernel that keeps the low-rank factors uses W1/W2/U1/U2 from ``named_parameters``."""
        with torch.no_grad():
            return {"W": (self.W if self.w_rank is None else self.W1 @ self.W2).detach().clone(),
                    "U": (self.U if self.u_rank is None else self.U1 @ self.U2).detach().clone(),
                    "b_z": self.b_z.detach().clone(), "b_h": self.b_h.detach().clone(),
                    "zeta": torch.sigmoid(self.zeta).detach(), "nu": torch.sigmoid(self.nu).detach()}


# ---------------------------------------------------------------------------------- minGRU, minLSTM

def g(v):
    """Feng et al.'s g(): v + 0.5 for v ≥ 0, σ(v) below: positive, continuous, linear growth."""
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def log_g(v):
    """log g(v), computed without forming g(v) where it would underflow."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def log_space_scan(log_a, log_b):
    """h_t = a_t ⊙ h_{t-1} + b_t from h_0 = 0, for positive a, b given as logs [B, T, H] (Heinsen 2023):
    log h_t = A_t + logcumsumexp_{s≤t}(log b_s − A_s), A_t = Σ_{s≤t} log a_s.  Returns (h, A).

    Runs in float64: A_t grows linearly in t, and in float32 the rounding of A_t (ulp ~ 1e-5 at
    |A| ~ 100) would show in h; in float64 the scan agrees with the float32 sequential loop to ~1e-7.
    """
    dtype = log_a.dtype
    a_star = torch.cumsum(log_a.double(), dim=1)
    log_h = a_star + torch.logcumsumexp(log_b.double() - a_star, dim=1)
    return torch.exp(log_h).to(dtype), a_star


class _MinRNN(Cell):
    """Shared by minGRU and minLSTM: gates from x_t only, so the recurrence h_t = a_t ⊙ h_{t-1} + b_t
    is linear in h and runs as a parallel scan. ``mode``: ``"parallel"`` (log-space scan),
    ``"sequential"`` (the step loop a device runs), ``"auto"`` (parallel while training, sequential in
    eval mode, so evaluated accuracies are those of the device's arithmetic order).

    ``layers`` stacks cells as Feng et al. do (layer j reads layer j−1's h sequence); parameters are
    ``stack.{j}.weight_<gate>`` ``[H, in_j]`` and ``stack.{j}.bias_<gate>`` ``[H]``; the state tuple
    holds one h per layer, top layer first, so ``state[0]`` is the output."""

    gates: tuple[str, ...] = ()

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1):
        super().__init__(input_size, hidden_size)
        from workbench.errors import WorkbenchError

        if int(layers) < 1:
            raise WorkbenchError(f"{self.kind} layers must be ≥ 1, not {layers}")
        self.layers = int(layers)
        self.state_tensors = self.layers
        self.mode = "auto"
        self.stack = nn.ModuleList()
        for j in range(self.layers):
            layer = nn.Module()
            for name in self.gates:
                lin = nn.Linear(input_size if j == 0 else hidden_size, hidden_size)
                setattr(layer, f"weight_{name}", lin.weight)
                setattr(layer, f"bias_{name}", lin.bias)
            self.stack.append(layer)

    def options(self) -> dict:
        return {"layers": self.layers} if self.layers != 1 else {}

    def macs_per_step(self) -> int:
        h = self.hidden_size
        return sum(len(self.gates) * h * (self.input_size if j == 0 else h) for j in range(self.layers))

    @staticmethod
    def _linear(layer, name, x):
        return x @ getattr(layer, f"weight_{name}").T + getattr(layer, f"bias_{name}")

    def _log_coefficients(self, layer, x):
        raise NotImplementedError

    def _step(self, layer, x_t, h):
        raise NotImplementedError

    def step_reference(self, x_t, state):
        new = list(state)
        inp = x_t
        for j, layer in enumerate(self.stack):
            slot = self.layers - 1 - j
            new[slot] = self._step(layer, inp, state[slot])
            inp = new[slot]
        return tuple(new)

    def forward(self, x, state=None):
        parallel = self.mode == "parallel" or (self.mode == "auto" and self.training)
        if not parallel:
            b, t, _ = x.shape
            st = self.zero_state(b, x) if state is None else tuple(state)
            out = []
            for s in range(t):
                st = self.step_reference(x[:, s], st)
                out.append(st[0])
            return torch.stack(out, dim=1), st
        final = [None] * self.layers
        seq = x
        for j, layer in enumerate(self.stack):
            slot = self.layers - 1 - j
            log_a, log_b = self._log_coefficients(layer, seq)
            seq, a_star = log_space_scan(log_a, log_b)
            if state is not None:
                # h_t = (Π_{s≤t} a_s) h_0 + scan from zero: exact for any h_0, negative entries included.
                seq = seq + (torch.exp(a_star) * state[slot].double().unsqueeze(1)).to(seq.dtype)
            final[slot] = seq[:, -1]
        return seq, tuple(final)


class MinGRU(_MinRNN):
    """minGRU (Feng et al., 2024), one step of one layer::

        z   = σ(W_z x_t + b_z)
        h~  = g(W_h x_t + b_h)
        h_t = (1 − z) ⊙ h_{t-1} + z ⊙ h~

    Parallel form: log a_t = −softplus(k_z) (= log(1 − z)), log b_t = −softplus(−k_z) + log g(k_h).
    """

    kind = "mingru"
    gates = ("z", "h")

    def _log_coefficients(self, layer, x):
        k_z, k_h = self._linear(layer, "z", x), self._linear(layer, "h", x)
        return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)

    def _step(self, layer, x_t, h):
        z = torch.sigmoid(x_t @ layer.weight_z.T + layer.bias_z)
        h_tilde = g(x_t @ layer.weight_h.T + layer.bias_h)
        return (1 - z) * h + z * h_tilde


class MinLSTM(_MinRNN):
    """minLSTM (Feng et al., 2024), one step of one layer::

        f   = σ(W_f x_t + b_f),   i = σ(W_i x_t + b_i)
        f'  = f / (f + i),        i' = i / (f + i)        (length-independent scaling)
        h~  = g(W_h x_t + b_h)
        h_t = f' ⊙ h_{t-1} + i' ⊙ h~

    Parallel form: with d = softplus(−k_f) − softplus(−k_i) = log(i/f),
    log f' = −softplus(d), log i' = −softplus(−d).
    """

    kind = "minlstm"
    gates = ("f", "i", "h")

    def _log_coefficients(self, layer, x):
        k_f, k_i, k_h = (self._linear(layer, n, x) for n in ("f", "i", "h"))
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return -F.softplus(d), -F.softplus(-d) + log_g(k_h)

    def _step(self, layer, x_t, h):
        f = torch.sigmoid(x_t @ layer.weight_f.T + layer.bias_f)
        i = torch.sigmoid(x_t @ layer.weight_i.T + layer.bias_i)
        h_tilde = g(x_t @ layer.weight_h.T + layer.bias_h)
        return (f / (f + i)) * h + (i / (f + i)) * h_tilde


# ----------------------------------------------------------------------------------------------- DuRNN

class DuRNN(Cell):
    """DuRNN: dual recurrent network (Zhang, Li, Ye, Zhu, Li; arXiv 2005.13867, Neurocomputing 2021).

    What the paper says (its abstract: the only text of it we could read here): a module has two parts.
    A *short-term* part is an RNN with constrained full recurrent connections: it follows short-term
    changes and produces a short-term memory. A *long-term* part is an RNN with independent recurrent
    connections (every neuron recurs only onto itself, as in IndRNN, Li et al. 2018): it learns the
    long-term dependence progressively. A *selection mechanism* between the two passes the part of the
    short-term memory that matters in the long run to the independent neurons. Modules stack.

    Our reading, one step of one module (S short-term units, H long-term units = the output)::

        s_t = tanh(W_sx x_t + U_ss s_{t-1} + b_s)      U_ss constrained: every row's L1 norm ≤ γ < 1
        g_t = σ(W_gx x_t + W_gs s_t + b_g)             selection: which short-term units to hand over
        l_t = φ(W_ls (g_t ⊙ s_t) + u ⊙ l_{t-1} + b_l)  u ∈ (−1, 1) per neuron: independent recurrence
        h_t = l_t                                       (the next module's input)

    - The constraint ‖U_ss‖_∞ ≤ γ makes the short-term map a γ-contraction in s (tanh is
      1-Lipschitz): s_{t-n} influences s_t by at most γ^n, so this part *cannot* keep old input and
      is left with the short-term work, which is the division of labour the paper describes. We
      enforce it by rescaling each row of the stored ``U_ss`` whose L1 norm exceeds γ
      (``effective_weights`` gives the rescaled matrix; γ = ``short_radius``, default 0.9).
    - u = tanh(``u_raw``) keeps |u| < 1, IndRNN's bound for a recurrence that neither explodes nor
      vanishes faster than |u|^n; initialised in [0.5, 0.95] so the long-term units start long-lived.
    - φ is ReLU by default as in IndRNN (``long_activation="tanh"`` bounds l for fixed-point kernels).
    - ``layers`` stacks modules: module j's input is module j−1's h. The state tuple is
      ``(l, s)`` per module, top module first, so ``state[0]`` is the output.

    Simplifications, named honestly: the paper's body (its equations: how the constraint is enforced,
    which signals the selection gate reads, initialisation, any normalisation between stacked modules)
    was not available to us; the form above is our reading of the abstract, built from standard parts
    (a contractive RNN, IndRNN, a sigmoid gate). Swap in the paper's equations when they are at hand:
    the tests pin ``forward`` to ``step_reference``, not to this particular form. Sizes: short part = ``short_size``
    (default H), long part = H.
    """

    kind = "durnn"

    def __init__(self, input_size: int, hidden_size: int, layers: int = 1, short_size: int | None = None,
                 short_radius: float = 0.9, long_activation: str = "relu"):
        super().__init__(input_size, hidden_size)
        from workbench.errors import WorkbenchError

        if long_activation not in ("relu", "tanh"):
            raise WorkbenchError(f"durnn long_activation must be relu or tanh, not {long_activation!r}")
        if not 0.0 < float(short_radius) < 1.0:
            raise WorkbenchError(f"durnn short_radius must lie in (0, 1), not {short_radius}")
        if int(layers) < 1:
            raise WorkbenchError(f"durnn layers must be ≥ 1, not {layers}")
        self.layers = int(layers)
        self.short_size = int(short_size) if short_size is not None else self.hidden_size
        self.short_radius = float(short_radius)
        self.long_activation = long_activation
        self.state_tensors = 2 * self.layers
        self.stack = nn.ModuleList(
            _DuRNNModule(input_size if j == 0 else hidden_size, self.short_size, hidden_size)
            for j in range(self.layers))

    def options(self) -> dict:
        opts = {}
        if self.layers != 1:
            opts["layers"] = self.layers
        if self.short_size != self.hidden_size:
            opts["short_size"] = self.short_size
        if self.short_radius != 0.9:
            opts["short_radius"] = self.short_radius
        if self.long_activation != "relu":
            opts["long_activation"] = self.long_activation
        return opts

    def state_sizes(self) -> list[int]:
        return [self.hidden_size, self.short_size] * self.layers

    def macs_per_step(self) -> int:
        s, h = self.short_size, self.hidden_size
        total = 0
        for j in range(self.layers):
            i = self.input_size if j == 0 else h
            total += s * (2 * i + 2 * s + h) + h
        return total

    def _phi(self, v):
        return F.relu(v) if self.long_activation == "relu" else torch.tanh(v)

    def _constrained(self, m: "_DuRNNModule"):
        return m.U_ss * torch.clamp(self.short_radius / m.U_ss.abs().sum(dim=1, keepdim=True).clamp_min(1e-12),
                                    max=1.0)

    def forward(self, x, state=None):
        b, t, _ = x.shape
        st = list(self.zero_state(b, x) if state is None else state)
        final = [None] * (2 * self.layers)
        seq = x
        for j, m in enumerate(self.stack):
            slot = 2 * (self.layers - 1 - j)         # top module first in the state tuple
            l, s = st[slot], st[slot + 1]
            u_ss, u = self._constrained(m), torch.tanh(m.u_raw)
            sx = seq @ m.W_sx.T + m.b_s              # input products for all steps at once
            gx = seq @ m.W_gx.T + m.b_g
            out = []
            for k in range(t):
                s = torch.tanh(sx[:, k] + s @ u_ss.T)
                gate = torch.sigmoid(gx[:, k] + s @ m.W_gs.T)
                l = self._phi((gate * s) @ m.W_ls.T + u * l + m.b_l)
                out.append(l)
            seq = torch.stack(out, dim=1)
            final[slot], final[slot + 1] = l, s
        return seq, tuple(final)

    def step_reference(self, x_t, state):
        w = self.effective_weights()
        new = list(state)
        inp = x_t
        for j in range(self.layers):
            slot = 2 * (self.layers - 1 - j)
            l, s = state[slot], state[slot + 1]
            p = f"stack.{j}."
            s = torch.tanh(inp @ w[p + "W_sx"].T + s @ w[p + "U_ss"].T + w[p + "b_s"])
            gate = torch.sigmoid(inp @ w[p + "W_gx"].T + s @ w[p + "W_gs"].T + w[p + "b_g"])
            l = self._phi((gate * s) @ w[p + "W_ls"].T + w[p + "u"] * l + w[p + "b_l"])
            new[slot], new[slot + 1] = l, s
            inp = l
        return tuple(new)

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """Per module ``stack.{j}.``: W_sx, U_ss (row-rescaled to ‖·‖_∞ ≤ γ), b_s, W_gx, W_gs, b_g,
        W_ls, u (= tanh(u_raw)), b_l."""
        out = {}
        with torch.no_grad():
            for j, m in enumerate(self.stack):
                p = f"stack.{j}."
                for name in ("W_sx", "b_s", "W_gx", "W_gs", "b_g", "W_ls", "b_l"):
                    out[p + name] = getattr(m, name).detach().clone()
                out[p + "U_ss"] = self._constrained(m).detach().clone()
                out[p + "u"] = torch.tanh(m.u_raw).detach().clone()
        return out


class _DuRNNModule(nn.Module):
    """The parameters of one DuRNN module (the math lives in ``DuRNN``)."""

    def __init__(self, input_size: int, short_size: int, long_size: int):
        super().__init__()

        def uniform(*shape, fan_in):
            bound = 1.0 / math.sqrt(fan_in)
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))

        self.W_sx = uniform(short_size, input_size, fan_in=input_size)
        self.U_ss = uniform(short_size, short_size, fan_in=short_size)
        self.b_s = uniform(short_size, fan_in=input_size)
        self.W_gx = uniform(short_size, input_size, fan_in=input_size)
        self.W_gs = uniform(short_size, short_size, fan_in=short_size)
        self.b_g = uniform(short_size, fan_in=input_size)
        self.W_ls = uniform(long_size, short_size, fan_in=short_size)
        self.u_raw = nn.Parameter(torch.atanh(torch.empty(long_size).uniform_(0.5, 0.95)))
        self.b_l = nn.Parameter(torch.zeros(long_size))


# ------------------------------------------------------------------------------------------- registry

CELLS: dict[str, type[Cell]] = {"lstm": LSTM, "gru": GRU, "fastgrnn": FastGRNN, "mingru": MinGRU,
                                "minlstm": MinLSTM, "durnn": DuRNN}


def make_cell(kind: str, input_size: int, hidden_size: int, **options) -> Cell:
    from workbench.errors import WorkbenchError

    cls = CELLS.get(str(kind).lower())
    if cls is None:
        raise WorkbenchError(f"unknown cell {kind!r}; known: {', '.join(sorted(CELLS))}")
    try:
        return cls(input_size, hidden_size, **options)
    except TypeError as exc:
        raise WorkbenchError(f"cell {kind!r}: bad options {options} ({exc})") from None
