"""ShaRNN with any pair of cells: streaming (the paper's Claim 1) equals full recomputation; MACs; rebuilds."""

from __future__ import annotations

import pytest
import torch

from workbench.errors import WorkbenchError
from workbench.models import ShaRNNStream, build_model, count_parameters
from workbench.models.modelfile import from_module, load, save

# Every cell kind at each level at least once.
PAIRS = [("lstm", "gru"), ("gru", "fastgrnn"), ("fastgrnn", "mingru"), ("mingru", "minlstm"),
         ("minlstm", "durnn"), ("durnn", "lstm")]
OPTIONS = {"fastgrnn": {"w_rank": 3}, "durnn": {"layers": 2}}
# The stream computes new bricks as a smaller batch than the full window does; torch may round a
# batched product differently by batch size, so equality is to float32 rounding, not bit for bit.
ATOL = 1e-5


def model_for(pair, k=5, window=40, input_dim=3, hidden=(7, 6), seed=0):
    torch.manual_seed(seed)
    cfg = {"family": "sharnn", "cells": list(pair), "hidden": list(hidden), "k": k, "window": window,
           "input_dim": input_dim, "num_classes": 4,
           "cell_options": [OPTIONS.get(pair[0], {}), OPTIONS.get(pair[1], {})]}
    model = build_model(cfg)
    with torch.no_grad():
        model.norm.mean.uniform_(-0.5, 0.5)
        model.norm.inv_std.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
@pytest.mark.parametrize("stride_bricks", [1, 2])
def test_stream_equals_full_recomputation_for_every_window(pair, stride_bricks):
    k, window = 5, 40
    model = model_for(pair, k=k, window=window)
    stride = stride_bricks * k
    stream = torch.randn(2, window + 12 * stride, 3, generator=torch.Generator().manual_seed(3))
    host = ShaRNNStream(model)
    checked = 0
    with torch.no_grad():
        for end in range(stride, stream.shape[1] + 1, stride):
            out = host.push(stream[:, end - stride:end])
            if end < window:
                assert out is None
                continue
            full = model(stream[:, end - window:end])
            torch.testing.assert_close(out, full, atol=ATOL, rtol=0)
            checked += 1
    assert checked == (stream.shape[1] - window) // stride + 1


def test_stream_refuses_pushes_that_are_not_whole_bricks():
    host = ShaRNNStream(model_for(("gru", "gru")))
    with pytest.raises(WorkbenchError, match="multiple of k=5"):
        host.push(torch.zeros(1, 7, 3))


def test_stream_reset_starts_a_new_window():
    model = model_for(("lstm", "durnn"))
    host = ShaRNNStream(model)
    x = torch.randn(1, 40, 3)
    with torch.no_grad():
        first = host.push(x)
        host.reset()
        assert host.push(x[:, :35]) is None
        torch.testing.assert_close(host.push(x[:, 35:]), first, atol=ATOL, rtol=0)


def test_keyword_spotting_macs_and_the_five_fold_saving():
    """The paper's KWS setting: ShaRNN LSTM 32/16, k=11, T=99, 32 features, 12 classes vs an LSTM of 32."""
    common = {"window": 99, "input_dim": 32, "num_classes": 12}
    sharnn = build_model({"family": "sharnn", "cells": ["lstm", "lstm"], "hidden": [32, 16], "k": 11, **common})
    lstm = build_model({"family": "rnn", "cells": ["lstm"], "hidden": [32], **common})
    lower, upper = 4 * 32 * (32 + 32), 4 * 16 * (32 + 16)
    assert sharnn.macs() == {"full_window": 99 * lower + 9 * upper + 16 * 12,
                             "stream_window": 11 * lower + 9 * upper + 16 * 12}
    assert lstm.macs() == {"full_window": 99 * lower + 32 * 12, "stream_window": 99 * lower + 32 * 12}
    assert lstm.macs()["stream_window"] / sharnn.macs()["stream_window"] >= 5.0
    assert count_parameters(lstm) == 4 * 32 * (32 + 32 + 2) + 32 * 12 + 12


@pytest.mark.parametrize("pair", PAIRS, ids=["-".join(p) for p in PAIRS])
def test_model_file_rebuilds_cells_with_their_options(tmp_path, pair):
    model = model_for(pair)
    path = save(from_module(model, {"dataset": "x"}), tmp_path / "m.wbm")
    again = load(path).build()
    assert again.config() == model.config()
    x = torch.randn(3, 40, 3)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


def test_configs_without_options_are_unchanged():
    """LSTM/GRU models keep the config (and so the content hash) they had before cells took options."""
    model = model_for(("lstm", "gru"))
    assert "cell_options" not in model.config()
    assert model_for(("fastgrnn", "gru")).config()["cell_options"] == [{"w_rank": 3}, {}]


@pytest.mark.parametrize("config, message", [
    ({"family": "sharnn", "cells": ["gru", "nosuch"], "hidden": [8, 8], "k": 5}, "unknown cell 'nosuch'"),
    ({"family": "tree", "cells": ["gru"], "hidden": [8]}, "unknown model family 'tree'"),
    ({"family": "sharnn", "cells": ["gru", "gru"], "hidden": [8, 8], "k": 7}, "k=7 does not divide"),
    ({"family": "sharnn", "cells": ["gru"], "hidden": [8], "k": 5}, "needs 2 cell"),
])
def test_bad_configs_are_user_errors(config, message):
    with pytest.raises(WorkbenchError, match=message):
        build_model({"window": 40, "input_dim": 3, "num_classes": 4, **config})
