"""Load a ShaRNN trained with the paper authors' own code: EdgeML's PyTorch ``SRNN2``.

``SRNN2`` is in ``edgeml_pytorch.graph.rnn`` (microsoft/EdgeML, PyPI ``edgeml-pytorch`` 0.3.0). This
module never imports it: it maps a state dict (``torch.save(srnn2.state_dict(), ...)``) onto our
``ShaRNN``. What SRNN2 computes, read from its source (0.3.0):

- ``forward(x, brickSize)`` takes x **time-major**, ``[T, B, F]`` (ours is batch-first ``[B, T, F]``).
- ``getBrickedData`` keeps the first ⌊T/k⌋·k steps and reshapes them to ``[T/k, k, B, F]``: brick j
  is steps ``j·k … j·k+k−1``, consecutive and non-overlapping, exactly our bricks (its
  ``split``/``cat`` pair is an identity; the reshape does the cut). We require k | T instead of
  dropping a tail silently.
- The bricks go to the lower RNN ``rnn0`` as one time-major batch ``[k, (T/k)·B, F]`` from a zero
  state; the output at the last step of each brick, ``[T/k, B, H0]``, is the upper RNN ``rnn1``'s
  time-major input; its last output h1 gives the logits ``h1 @ W + B`` (``W`` is ``[H1, C]``:
  our ``fc.weight`` is its transpose).
- ``cellType``: ``'LSTM'`` is torch's ``nn.LSTM`` (our ``lstm`` cell wraps the same layer: same
  parameter names, gate order i, f, g, o). ``'FastGRNNCell'`` is EdgeML's ``FastGRNN``; its unroller
  is batch-first unless ``batch_first=False`` is passed in the cell arguments, and inside SRNN2 the
  default therefore unrolls over the wrong axis (EdgeML's own example passes ``batch_first=False``):
  ``from_srnn2`` refuses such a module. Its low-rank factors are named the other way round from ours
  (EdgeML: W ≈ W2 @ W1 with W1 ``[r, I]``; ours: W = W1 @ W2 with W2 ``[r, I]``), ``bias_gate`` is
  our ``b_z``, ``bias_update`` our ``b_h``; ``zeta``/``nu`` are both stored before the sigmoid.
  ``'GRULRCell'`` (its candidate is tanh(W x + U (r ⊙ h)), not torch's r ⊙ (U h)) and
  ``'FastRNNCell'`` have no counterpart among our cells and are refused.
- Dropout: SRNN2 creates a new ``nn.Dropout`` inside every ``forward``, always in training mode, so
  with ``dropoutProbability0/1`` set its outputs stay random even after ``.eval()``; a loaded ShaRNN
  applies no dropout (the inference those weights stand for).
- SRNN2 does not normalise its input. The loaded model's ``Normalize`` is the identity unless
  ``mean``/``std`` are given (EdgeML's examples standardise with the training set's per-feature mean
  and std before calling SRNN2: pass those to fold the step into the model).
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.errors import WorkbenchError
from workbench.models.cells import FastGRNN, make_cell
from workbench.models.sharnn import ShaRNN

CELL_TYPES = {"LSTM": "lstm", "FastGRNNCell": "fastgrnn"}


def cell_type_of(state_dict: dict) -> str:
    """SRNN2's ``cellType`` as its state dict shows it (nn.LSTM and FastGRNN name their tensors apart)."""
    if "rnn0.weight_ih_l0" in state_dict:
        return "LSTM"
    if "rnn0.cell.zeta" in state_dict:
        return "FastGRNNCell"
    if "rnn0.cell.bias_r" in state_dict:
        return "GRULRCell"
    if "rnn0.cell.alpha" in state_dict:
        return "FastRNNCell"
    raise WorkbenchError("not an EdgeML SRNN2 state dict (no rnn0 tensors of a known cell)")


def load_state_dict_file(path, what: str = "EdgeML state dict") -> dict:
    """A state dict saved with ``torch.save(srnn2.state_dict(), path)``; tensors only, nothing executed.
    ``what``: what the messages call the file."""
    import pickle
    import warnings
    import zipfile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # torch warns about pickle protocols before failing
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WorkbenchError(f"{what} {path} not found") from None
    except IsADirectoryError:
        raise WorkbenchError(f"{what} {path} cannot be read (a directory)") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        raise WorkbenchError(f"{what} {path} cannot be read (not a torch.save file of tensors: "
                             f"{type(exc).__name__})") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WorkbenchError(f"{path} is not a state dict (a dict of tensors)")
    return sd


def from_srnn2_state_dict(state_dict: dict, cell_type: str | None, brick_size: int, window: int,
                          mean=None, std=None) -> ShaRNN:
    """A ShaRNN equal to the SRNN2 whose ``state_dict()`` this is (sizes are read from the tensors;
    ``cell_type=None`` reads the cell type from the tensor names)."""
    if cell_type is None:
        cell_type = cell_type_of(state_dict)
    if cell_type not in CELL_TYPES:
        raise WorkbenchError(f"EdgeML SRNN2 cellType {cell_type!r} cannot be loaded; "
                             f"supported: {', '.join(CELL_TYPES)}")
    sd = {k: torch.as_tensor(v).detach().float() for k, v in state_dict.items()}
    try:
        w, b = sd["W"], sd["B"]
        hidden1, num_classes = w.shape
        cells = [_lstm(sd, "rnn0") if cell_type == "LSTM" else _fastgrnn(sd, "rnn0"),
                 _lstm(sd, "rnn1") if cell_type == "LSTM" else _fastgrnn(sd, "rnn1")]
    except KeyError as exc:
        raise WorkbenchError(f"not an EdgeML SRNN2 ({cell_type}) state dict: missing {exc}") from None
    if cells[1].hidden_size != hidden1 or cells[1].input_size != cells[0].hidden_size:
        raise WorkbenchError("EdgeML SRNN2 state dict: the two levels' sizes do not chain "
                             f"(rnn0 hidden {cells[0].hidden_size}, rnn1 input {cells[1].input_size}, "
                             f"rnn1 hidden {cells[1].hidden_size}, W {tuple(w.shape)})")
    model = ShaRNN(cells[0], cells[1], brick_size, num_classes, window)
    with torch.no_grad():
        model.fc.weight.copy_(w.T)
        model.fc.bias.copy_(b)
        if mean is not None:
            model.norm.mean.copy_(torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        if std is not None:
            s = np.asarray(std, dtype=np.float64)
            model.norm.inv_std.copy_(torch.as_tensor((1.0 / s).astype(np.float32)))
    return model.eval()


def from_srnn2(srnn2, brick_size: int, window: int, mean=None, std=None) -> ShaRNN:
    """A ShaRNN equal to an ``edgeml_pytorch`` SRNN2 module, after checking its construction arguments."""
    cell_type = getattr(srnn2, "cellType", None)
    if cell_type not in CELL_TYPES:
        raise WorkbenchError(f"EdgeML SRNN2 cellType {cell_type!r} cannot be loaded; "
                             f"supported: {', '.join(CELL_TYPES)}")
    for level in ("rnn0", "rnn1"):
        rnn = getattr(srnn2, level)
        if cell_type == "LSTM":
            if rnn.batch_first or rnn.num_layers != 1 or rnn.bidirectional or rnn.proj_size:
                raise WorkbenchError(f"EdgeML SRNN2 {level}: only a one-layer, unidirectional, time-major "
                                     "nn.LSTM is a ShaRNN level")
        else:
            if rnn.unrollRNN._batch_first:
                raise WorkbenchError(f"EdgeML SRNN2 {level}: FastGRNN built with batch_first=True unrolls the "
                                     "time-major bricks over the wrong axis; build SRNN2 with batch_first=False")
            cell = rnn.cell
            if (cell._gate_nonlinearity, cell._update_nonlinearity) != ("sigmoid", "tanh"):
                raise WorkbenchError(f"EdgeML SRNN2 {level}: FastGRNN nonlinearities "
                                     f"{cell._gate_nonlinearity}/{cell._update_nonlinearity}; "
                                     "only sigmoid/tanh are supported")
    return from_srnn2_state_dict(srnn2.state_dict(), cell_type, brick_size, window, mean, std)


def _lstm(sd: dict, prefix: str):
    w_ih = sd[f"{prefix}.weight_ih_l0"]
    if f"{prefix}.weight_ih_l1" in sd or f"{prefix}.weight_ih_l0_reverse" in sd:
        raise WorkbenchError(f"EdgeML SRNN2 {prefix}: a multi-layer or bidirectional LSTM is not a ShaRNN level")
    hidden, inp = w_ih.shape[0] // 4, w_ih.shape[1]
    cell = make_cell("lstm", inp, hidden)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(cell.rnn, name).copy_(sd[f"{prefix}.{name}"])
    return cell


def _fastgrnn(sd: dict, prefix: str) -> FastGRNN:
    p = f"{prefix}.cell."
    low_w, low_u = p + "W1" in sd, p + "U1" in sd
    if low_w:
        inp, hidden, w_rank = sd[p + "W1"].shape[1], sd[p + "W2"].shape[0], sd[p + "W1"].shape[0]
    else:
        hidden, inp = sd[p + "W"].shape
        w_rank = None
    u_rank = sd[p + "U1"].shape[0] if low_u else None
    cell = make_cell("fastgrnn", inp, hidden, **({"w_rank": w_rank} if w_rank else {}),
                     **({"u_rank": u_rank} if u_rank else {}))
    with torch.no_grad():
        if low_w:
            cell.W1.copy_(sd[p + "W2"])         # EdgeML W2 [H, r] is the outer factor: our W1
            cell.W2.copy_(sd[p + "W1"])         # EdgeML W1 [r, I] is applied first: our W2
        else:
            cell.W.copy_(sd[p + "W"])
        if low_u:
            cell.U1.copy_(sd[p + "U2"])
            cell.U2.copy_(sd[p + "U1"])
        else:
            cell.U.copy_(sd[p + "U"])
        cell.b_z.copy_(sd[p + "bias_gate"].reshape(-1))
        cell.b_h.copy_(sd[p + "bias_update"].reshape(-1))
        cell.zeta.copy_(sd[p + "zeta"].reshape(()))
        cell.nu.copy_(sd[p + "nu"].reshape(()))
    return cell
