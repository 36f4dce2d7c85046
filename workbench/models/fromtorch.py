"""Models trained elsewhere: plain torch ``nn.LSTM`` / ``nn.GRU`` layers with an ``nn.Linear`` head.

Our ``lstm`` and ``gru`` cells wrap exactly those torch layers (same parameter names, same gate order),
so importing is a copy of tensors, and the imported model's logits are the user's module's:

- ``single(rnn, head, window)``: one layer over the window, then the head on its last output
  (``head(out[:, -1])``, which is ``head(h_n[0])`` for one unidirectional layer): our ``rnn`` family.
- ``sharnn(lower, upper, head, k, window)``: the lower layer on every brick of k steps from a zero
  state, the upper layer over the bricks' last outputs, the head on its last output: our ``sharnn``.
- ``parts_of(module)``: the one ``nn.LSTM``/``nn.GRU`` and the one ``nn.Linear`` a module is made of;
  ``check_same_logits`` then runs the user's module and ours on the same random windows, so a module
  whose forward does something else (pooling over time, an activation before the head) is refused
  instead of imported wrong.
- ``from_state_dict(sd, cells, window, k)``: the same from a saved state dict (``workbench import``):
  tensors ``<prefix>.weight_ih_l0`` ... for each layer, ``<prefix>.weight``/``.bias`` for the head.

What is refused, each in one line: more than one layer (``num_layers`` > 1), bidirectional layers, an
LSTM with ``proj_size``, sizes that do not chain (lower hidden = upper input = ...), k not dividing
the window. A layer or head without bias imports with zero biases. Batch-first or not does not
matter to the weights; the input normalisation is the identity unless ``mean``/``std`` are given.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.models.sharnn import ShaRNN, SingleRNN, build_model

RNN_TENSORS = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
GATES = {"lstm": 4, "gru": 3}


def kind_of(rnn) -> str:
    if type(rnn) is nn.LSTM:
        return "lstm"
    if type(rnn) is nn.GRU:
        return "gru"
    raise WorkbenchError(f"{type(rnn).__name__} is not an nn.LSTM or nn.GRU (the layers from_torch takes)")


def _check_layer(rnn, what: str) -> str:
    kind = kind_of(rnn)
    if rnn.num_layers != 1:
        raise WorkbenchError(f"{what}: {rnn.num_layers} layers; each level takes one (num_layers=1); for two "
                             "levels build a ShaRNN: from_torch(lower=..., upper=..., head=..., k=...)")
    if rnn.bidirectional:
        raise WorkbenchError(f"{what}: a bidirectional layer does not stream; use bidirectional=False")
    if getattr(rnn, "proj_size", 0):
        raise WorkbenchError(f"{what}: an LSTM with proj_size={rnn.proj_size} has no counterpart here")
    return kind


def _layer_tensors(rnn) -> dict[str, torch.Tensor]:
    hidden, gates = rnn.hidden_size, GATES[kind_of(rnn)]
    zeros = torch.zeros(gates * hidden)
    return {name: getattr(rnn, name).detach() if hasattr(rnn, name) and getattr(rnn, name) is not None else zeros
            for name in RNN_TENSORS}


def _head_tensors(head) -> dict[str, torch.Tensor]:
    bias = head.bias.detach() if head.bias is not None else torch.zeros(head.out_features)
    return {"fc.weight": head.weight.detach(), "fc.bias": bias}


def _load(config: dict, tensors: dict[str, torch.Tensor], mean=None, std=None):
    model = build_model(config)
    state = model.state_dict()
    with torch.no_grad():
        for name, value in tensors.items():
            if tuple(value.shape) != tuple(state[name].shape):
                raise WorkbenchError(f"tensor {name}: shape {list(value.shape)}, the model needs "
                                     f"{list(state[name].shape)}")
            state[name].copy_(value.to(torch.float32))
        if mean is not None:
            model.norm.mean.copy_(torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        if std is not None:
            model.norm.inv_std.copy_(torch.as_tensor((1.0 / np.asarray(std, dtype=np.float64)).astype(np.float32)))
    return model.eval()


def single(rnn, head, window: int, mean=None, std=None) -> SingleRNN:
    """One ``nn.LSTM``/``nn.GRU`` over the window and an ``nn.Linear`` on its last output."""
    kind = _check_layer(rnn, "the recurrent layer")
    _check_head(head, rnn.hidden_size, "the recurrent layer")
    config = {"family": "rnn", "cells": [kind], "hidden": [rnn.hidden_size], "window": _window(window),
              "input_dim": rnn.input_size, "num_classes": head.out_features}
    tensors = {f"cell.rnn.{n}": t for n, t in _layer_tensors(rnn).items()} | _head_tensors(head)
    return _load(config, tensors, mean, std)


def sharnn(lower, upper, head, k: int, window: int, mean=None, std=None) -> ShaRNN:
    """A ShaRNN from two layers (lower on bricks of ``k`` steps, upper over the bricks) and a head."""
    kinds = [_check_layer(lower, "lower"), _check_layer(upper, "upper")]
    if upper.input_size != lower.hidden_size:
        raise WorkbenchError(f"upper takes {upper.input_size} inputs, lower gives {lower.hidden_size}: the upper "
                             "layer runs over the lower layer's outputs")
    _check_head(head, upper.hidden_size, "upper")
    window = _window(window)
    if k is None or int(k) < 1 or window % int(k):
        raise WorkbenchError(f"brick size k={k} does not divide the window length T={window}")
    config = {"family": "sharnn", "cells": kinds, "hidden": [lower.hidden_size, upper.hidden_size], "k": int(k),
              "window": window, "input_dim": lower.input_size, "num_classes": head.out_features}
    tensors = {f"cell1.rnn.{n}": t for n, t in _layer_tensors(lower).items()} \
        | {f"cell2.rnn.{n}": t for n, t in _layer_tensors(upper).items()} | _head_tensors(head)
    return _load(config, tensors, mean, std)


def _window(window) -> int:
    if window is None or int(window) < 1:
        raise WorkbenchError(f"window={window}: give the window length T the model classifies (steps)")
    return int(window)


def _check_head(head, hidden: int, what: str) -> None:
    if type(head) is not nn.Linear:
        raise WorkbenchError(f"the head must be an nn.Linear, got {type(head).__name__}")
    if head.in_features != hidden:
        raise WorkbenchError(f"the head takes {head.in_features} inputs, {what} gives {hidden}")


def parts_of(module) -> tuple[nn.Module, nn.Linear]:
    """The one recurrent layer and the one linear head a module is made of."""
    rnns = [m for m in module.modules() if type(m) in (nn.LSTM, nn.GRU)]
    heads = [m for m in module.modules() if type(m) is nn.Linear]
    others = [type(m).__name__ for m in module.modules() if isinstance(m, (nn.RNNBase, nn.RNNCellBase))
              and type(m) not in (nn.LSTM, nn.GRU)]
    if others:
        raise WorkbenchError(f"the module holds a {others[0]}: from_torch takes nn.LSTM and nn.GRU layers")
    if len(rnns) != 1 or len(heads) != 1:
        raise WorkbenchError(f"the module holds {len(rnns)} nn.LSTM/nn.GRU layer(s) and {len(heads)} nn.Linear "
                             "layer(s); from_torch(module) takes one of each (for a ShaRNN pass lower=, upper=, "
                             "head=, k=)")
    return rnns[0], heads[0]


@torch.no_grad()
def check_same_logits(module, rnn, ours, window: int, mean=None, std=None, tolerance: float = 1e-5,
                      seed: int = 0) -> float:
    """Run the user's ``module`` and ``ours`` on the same random windows (batch-first or time-major as
    ``rnn`` is; normalised by ``mean``/``std`` first for the user's module, which expects that done);
    refuse a module whose logits differ (its forward is not layer-then-head on the last step). Returns
    the largest difference."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, window, rnn.input_size, generator=gen)
    given = x
    if mean is not None or std is not None:
        m = torch.as_tensor(np.zeros(rnn.input_size) if mean is None else np.asarray(mean), dtype=torch.float32)
        s = torch.as_tensor(np.ones(rnn.input_size) if std is None else np.asarray(std), dtype=torch.float32)
        x = x * s + m                              # raw windows whose normalisation is ``given``
    was_training = module.training
    module.eval()
    try:
        theirs = module(given if rnn.batch_first else given.transpose(0, 1))
    except Exception as exc:  # the user's own forward: any failure is theirs to read
        raise WorkbenchError(f"the module's forward failed on windows of {window} steps × {rnn.input_size} "
                             f"channels ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") \
            from None
    finally:
        module.train(was_training)
    if isinstance(theirs, (tuple, list)):
        theirs = theirs[0]
    mine = ours(x)
    if not isinstance(theirs, torch.Tensor) or tuple(theirs.shape) != tuple(mine.shape):
        got = list(theirs.shape) if isinstance(theirs, torch.Tensor) else type(theirs).__name__
        raise WorkbenchError(f"the module's forward returned {got}, expected logits [batch, classes] = "
                             f"{list(mine.shape)}")
    diff = float((theirs.float() - mine).abs().max())
    if not diff <= tolerance:
        raise WorkbenchError(f"the module's logits differ from the imported model's by up to {diff:.3g}: its forward "
                             "must be the layer over the window, then the head on the last step's output")
    return diff


def from_state_dict(sd: dict, cells: list[str], window: int, k: int | None = None, what: str = "state dict"):
    """A model from a saved state dict of one or two ``nn.LSTM``/``nn.GRU`` layers and an ``nn.Linear``
    head (names and order as saved; two layers make a ShaRNN, lower first)."""
    layers, heads = {}, {}
    for name, tensor in sd.items():
        prefix, _, leaf = name.rpartition(".")
        if leaf in RNN_TENSORS:
            layers.setdefault(prefix, {})[leaf] = tensor
        elif leaf.startswith(("weight_", "bias_")):
            raise WorkbenchError(f"{what}: {name}: only one-layer, one-direction nn.LSTM/nn.GRU layers import "
                                 "(no _l1, _reverse or projection tensors)")
        elif leaf in ("weight", "bias"):
            heads.setdefault(prefix, {})[leaf] = tensor
        else:
            raise WorkbenchError(f"{what}: {name} is neither an nn.LSTM/nn.GRU nor an nn.Linear tensor")
    heads = {p: t for p, t in heads.items() if "weight" in t and t["weight"].ndim == 2}
    if len(heads) != 1 or len(layers) not in (1, 2):
        raise WorkbenchError(f"{what}: {len(layers)} recurrent layer(s) and {len(heads)} linear layer(s); import "
                             "takes one or two nn.LSTM/nn.GRU layers and one nn.Linear head")
    if len(cells) == 1:
        cells = cells * len(layers)
    if len(cells) != len(layers):
        raise WorkbenchError(f"--cell names {len(cells)} layer(s), {what} holds {len(layers)}")
    modules = []
    for (prefix, tensors), kind in zip(layers.items(), cells):
        if kind not in GATES:
            raise WorkbenchError(f"--cell {kind}: import takes lstm or gru")
        if "weight_ih_l0" not in tensors or "weight_hh_l0" not in tensors:
            raise WorkbenchError(f"{what}: {prefix} lacks weight_ih_l0 or weight_hh_l0")
        hidden = tensors["weight_hh_l0"].shape[1]
        gates = tensors["weight_hh_l0"].shape[0] // max(hidden, 1)
        if gates != GATES[kind]:
            actual = {4: "an LSTM (4 gates)", 3: "a GRU (3 gates)"}.get(gates, f"{gates} gates")
            raise WorkbenchError(f"{what}: {prefix} is {actual}, not a {kind.upper()}: --cell "
                                 f"{'lstm' if gates == 4 else 'gru'}")
        layer = (nn.LSTM if kind == "lstm" else nn.GRU)(tensors["weight_ih_l0"].shape[1], hidden, batch_first=True,
                                                        bias="bias_ih_l0" in tensors)
        try:
            layer.load_state_dict(tensors)
        except RuntimeError as exc:
            raise WorkbenchError(f"{what}: {prefix}: {str(exc).splitlines()[-1].strip()}") from None
        modules.append(layer)
    (head_tensors,) = heads.values()
    head = nn.Linear(head_tensors["weight"].shape[1], head_tensors["weight"].shape[0], bias="bias" in head_tensors)
    head.load_state_dict(head_tensors)
    if len(modules) == 1:
        return single(modules[0], head, window)
    lower, upper = modules
    if upper.input_size != lower.hidden_size and lower.input_size == upper.hidden_size:
        lower, upper = upper, lower          # saved upper first
    return sharnn(lower, upper, head, k, window)
