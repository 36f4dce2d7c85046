"""A ShaRNN trained with the paper authors' own code (EdgeML's PyTorch SRNN2) loads and gives its outputs.

The test instantiates EdgeML's SRNN2 itself (PyPI ``edgeml-pytorch==0.3.0``; skipped when missing),
saves its state dict, loads it into our ShaRNN and compares logits on random inputs. SRNN2 reads
time-major ``[T, B, F]``; ours batch-first. Tolerance: 1e-6 absolute on logits of magnitude ~1
(the same float32 operations in a different batch order; measured equal to the last bit here).
"""

from __future__ import annotations

import pytest
import torch

from tests.conftest import slow
from workbench.errors import WorkbenchError
from workbench.models.edgeml import from_srnn2, from_srnn2_state_dict

ATOL = 1e-6


@pytest.fixture(scope="module")
def SRNN2():
    utils = pytest.importorskip("edgeml_pytorch.utils", reason="needs edgeml-pytorch==0.3.0")
    # edgeml_pytorch.graph.rnn imports its CUDA extension whenever it finds a CUDA toolkit on the
    # machine (CUDA_HOME, nvcc on PATH, /usr/local/cuda). We compare its CPU path: no toolkit.
    utils.findCUDA = lambda: None
    return pytest.importorskip("edgeml_pytorch.graph.rnn").SRNN2


CASES = [
    ("LSTM", {}),
    ("FastGRNNCell", {"batch_first": False}),
    ("FastGRNNCell", {"batch_first": False, "wRank": 3, "uRank": 4}),
]


@pytest.mark.parametrize("cell_type, args", CASES, ids=["lstm", "fastgrnn", "fastgrnn-lowrank"])
@pytest.mark.parametrize("k", [10, 20])
def test_srnn2_state_dict_loads_and_matches(SRNN2, tmp_path, cell_type, args, k):
    torch.manual_seed(0)
    theirs = SRNN2(6, 4, 16, 8, cell_type, **args).eval()   # inputDim, outputDim, hiddenDim0, hiddenDim1
    with torch.no_grad():                                     # no parameter left at a constant init
        for p in theirs.parameters():
            p.add_(0.2 * torch.randn_like(p))
    torch.save(theirs.state_dict(), tmp_path / "model_srnn.pt")
    state = torch.load(tmp_path / "model_srnn.pt")
    ours = from_srnn2_state_dict(state, cell_type, brick_size=k, window=100)
    x = torch.randn(100, 5, 6, generator=torch.Generator().manual_seed(1))     # [T, B, F], as SRNN2 takes it
    with torch.no_grad():
        ref = theirs(x, k)
        out = ours(x.transpose(0, 1).contiguous())
    assert ref.abs().max() > 0.1
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=0)
    assert ours.config()["cells"] == [{"LSTM": "lstm"}.get(cell_type, "fastgrnn")] * 2
    assert ours.config()["hidden"] == [16, 8] and ours.k == k


def test_from_module_checks_and_folds_standardisation(SRNN2):
    torch.manual_seed(2)
    theirs = SRNN2(6, 4, 16, 8, "LSTM").eval()
    mean, std = torch.randn(6), torch.rand(6) + 0.5
    ours = from_srnn2(theirs, 10, 100, mean=mean.numpy(), std=std.numpy())
    raw = torch.randn(3, 100, 6)
    with torch.no_grad():
        ref = theirs(((raw - mean) / std).transpose(0, 1), 10)
        torch.testing.assert_close(ours(raw), ref, atol=1e-5, rtol=0)


def test_fastgrnn_built_batch_first_is_refused(SRNN2):
    with pytest.raises(WorkbenchError, match="batch_first=False"):
        from_srnn2(SRNN2(6, 4, 16, 8, "FastGRNNCell"), 10, 100)


def test_unsupported_cell_types_are_refused(SRNN2):
    with pytest.raises(WorkbenchError, match="'GRULRCell' cannot be loaded"):
        from_srnn2(SRNN2(6, 4, 16, 8, "GRULRCell"), 10, 100)


def test_window_must_be_whole_bricks(SRNN2):
    with pytest.raises(WorkbenchError, match="k=7 does not divide"):
        from_srnn2(SRNN2(6, 4, 16, 8, "LSTM"), 7, 100)


def test_foreign_state_dict_is_refused():
    with pytest.raises(WorkbenchError, match="missing"):
        from_srnn2_state_dict({"fc.weight": torch.zeros(4, 8)}, "LSTM", 10, 100)


@slow
def test_cli_imports_an_srnn2_state_dict(SRNN2, tmp_path, basicmotions):
    """`workbench train --from-edgeml`: the model file gives SRNN2's logits on standardised test windows."""
    from tests.test_cli_errors import run_cli
    from workbench.models.modelfile import load

    torch.manual_seed(4)
    theirs = SRNN2(6, 4, 16, 8, "FastGRNNCell", batch_first=False, wRank=3).eval()
    torch.save(theirs.state_dict(), tmp_path / "srnn2.pt")
    proc = run_cli("train", "--dataset", "BasicMotions", "--from-edgeml", str(tmp_path / "srnn2.pt"), "--k", "10",
                   "--out", str(tmp_path / "m.wbm"))
    assert proc.returncode == 0, proc.stderr
    mf = load(tmp_path / "m.wbm")
    assert mf.config["cells"] == ["fastgrnn", "fastgrnn"] and mf.config["cell_options"] == [{"w_rank": 3}] * 2
    train, test = basicmotions
    flat = train.x.reshape(-1, 6).astype("float64")
    x = torch.from_numpy(test.x[:8])
    std = torch.from_numpy(flat.std(axis=0)).float()
    standardised = (x - torch.from_numpy(flat.mean(axis=0)).float()) / std
    with torch.no_grad():
        torch.testing.assert_close(mf.build()(x), theirs(standardised.transpose(0, 1), 10), atol=1e-4, rtol=1e-5)


def test_cli_unreadable_state_dict(tmp_path):
    from tests.test_cli_errors import assert_one_line_error, run_cli

    bad = tmp_path / "srnn2.pt"
    bad.write_bytes(b"\x80\x04garbage")
    assert_one_line_error(run_cli("train", "--from-edgeml", str(bad), "--out", str(tmp_path / "m.wbm")),
                          "srnn2.pt", "cannot be read")
