"""Training (deterministic, refit, window alignment) and `workbench train` through the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import slow
from tests.test_cli_errors import assert_one_line_error, run_cli
from workbench.commands.train import parse_cell_options
from workbench.data import Dataset, align_to_window
from workbench.errors import WorkbenchError
from workbench.models import build_model
from workbench.models.modelfile import load
from workbench.models.train import TrainConfig, accuracy, augment_batch, train
from workbench.pipeline.training import default_k


class Quiet:
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass


def toy_dataset(n=48, t=20, c=3, seed=0):
    """Two classes told apart by the sign of a late pulse: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0, 0.3, size=(n, t, c)).astype(np.float32)
    x[:, -6:-2, 0] += np.where(y == 1, 1.5, -1.5)[:, None]
    return Dataset(name="toy", split="train", x=x, y=y, class_names=["neg", "pos"])


def toy_model(cells=("gru", "mingru"), seed=0):
    torch.manual_seed(seed)
    return build_model({"family": "sharnn", "cells": list(cells), "hidden": [8, 8], "k": 5, "window": 20,
                        "input_dim": 3, "num_classes": 2})


def test_training_is_deterministic_for_a_seed():
    data = toy_dataset()
    cfg = TrainConfig(epochs=6, seed=3, batch_size=8)
    a, b = toy_model(), toy_model()
    ra, rb = train(a, data, cfg, Quiet()), train(b, data, cfg, Quiet())
    assert ra == rb
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(pa, pb), name


def test_refit_trains_on_every_window_for_the_chosen_epochs():
    data = toy_dataset()
    model = toy_model(("lstm", "durnn"))
    result = train(model, data, TrainConfig(epochs=25, patience=25, seed=0, batch_size=8), Quiet())
    assert result.refit and 1 <= result.best_epoch <= 25
    # Normalisation comes from every training window after the refit, not from the 80 % split.
    flat = data.x.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(model.norm.mean.numpy(), flat.mean(axis=0), rtol=1e-5, atol=1e-6)
    assert accuracy(model, data.x, data.y) >= 0.9


def test_without_validation_split_runs_all_epochs():
    result = train(toy_model(), toy_dataset(), TrainConfig(epochs=3, val_fraction=0.0, seed=0), Quiet())
    assert not result.refit and result.epochs_run == 3


def test_masks_set_bands_and_spans_to_the_channel_means():
    x = torch.randn(64, 30, 8) + 5.0
    mean, std = torch.arange(8.0), torch.ones(8)
    gen = torch.Generator().manual_seed(0)
    cfg = TrainConfig(augment=0.0, mask_channels=3, mask_steps=4)
    out = augment_batch(x, mean, std, cfg, gen)
    masked = out != x
    assert masked.any()
    assert torch.equal(out[masked], mean.expand_as(x)[masked])  # only ever replaced by its channel's mean
    for i in range(64):
        channels = masked[i].all(dim=0).nonzero().flatten()      # a band masks every step of its channels
        steps = masked[i].all(dim=1).nonzero().flatten()         # a span masks every channel of its steps
        assert len(channels) <= 3 and len(steps) <= 8
        assert masked[i].sum() == len(steps) * 8 + len(channels) * (30 - len(steps))
        if len(channels):
            assert channels.max() - channels.min() == len(channels) - 1   # adjacent
    unchanged = augment_batch(x, mean, std, TrainConfig(augment=0.0), gen)
    assert torch.equal(unchanged, x)


def test_align_to_window_puts_uneven_series_at_the_end():
    x = np.zeros((2, 5, 1), dtype=np.float32)
    x[0, :3, 0] = [1, 2, 3]
    x[1, :5, 0] = [1, 2, 3, 4, 5]
    ds = Dataset(name="u", split="train", x=x, y=[0, 1], class_names=["a", "b"], lengths=np.array([3, 5]))
    out = align_to_window(ds, 6)
    assert out.x[:, :, 0].tolist() == [[0, 0, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    short = align_to_window(ds, 4)
    assert short.x[:, :, 0].tolist() == [[0, 1, 2, 3], [2, 3, 4, 5]]
    assert short.lengths.tolist() == [3, 4]


def test_cell_options_parse():
    assert parse_cell_options("w_rank=4,u_rank=2", 2) == [{"w_rank": 4, "u_rank": 2}] * 2
    assert parse_cell_options("w_rank=4;layers=2,long_activation=tanh", 2) == [
        {"w_rank": 4}, {"layers": 2, "long_activation": "tanh"}]
    assert parse_cell_options("short_radius=0.8", 1) == [{"short_radius": 0.8}]
    assert parse_cell_options(None, 2) == [{}, {}]
    with pytest.raises(WorkbenchError, match="key=value"):
        parse_cell_options("w_rank", 2)
    with pytest.raises(WorkbenchError, match="3 levels"):
        parse_cell_options("a=1;b=2;c=3", 2)


def test_default_k():
    assert default_k(100) == 10 and default_k(99) == 9 and default_k(30) == 5


@slow
def test_cli_trains_any_cell_pair_with_options(tmp_path):
    out = tmp_path / "m.wbm"
    proc = run_cli("train", "--dataset", "BasicMotions", "--cells", "fastgrnn,durnn", "--hidden", "6,5", "--k", "20",
                   "--cell-options", "w_rank=2;layers=2", "--epochs", "2", "--patience", "2", "--seed", "1",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stdout
    mf = load(out)
    assert mf.config["cells"] == ["fastgrnn", "durnn"] and mf.config["k"] == 20
    assert mf.config["cell_options"] == [{"w_rank": 2}, {"layers": 2}]
    assert mf.meta["seed"] == 1 and mf.meta["train"]["config"]["patience"] == 2
    # BasicMotions' own settings (DATASET_TRAINING) apply where no option overrides them.
    assert mf.meta["train"]["config"]["shift"] == 1.0 and mf.meta["train"]["config"]["epochs"] == 2
    assert mf.build()(torch.zeros(1, 100, 6)).shape == (1, 4)


@pytest.mark.parametrize("args, words", [
    (["--family", "forest"], ["unknown model family 'forest'"]),
    (["--cells", "gru,transformer"], ["unknown cell 'transformer'"]),
    (["--cells", "lstm,gru,gru"], ["takes 2 cell(s)"]),
    (["--k", "7"], ["k=7", "T=100"]),
    (["--cells", "durnn", "--cell-options", "long_activation=gelu"], ["long_activation"]),
    (["--cell-options", "w_rank"], ["key=value"]),
    (["--hidden", "16,x"], ["comma-separated integers"]),
    (["--epochs", "0"], ["--epochs 0: give at least 1"]),
    (["--mask-steps", "-1"], ["--mask-steps -1: must not be negative"]),
    (["--shift", "2"], ["--shift must lie in [0, 1], got 2.0"]),
])
def test_cli_bad_model_choices(tmp_path, args, words):
    assert_one_line_error(run_cli("train", *args, "--out", str(tmp_path / "m.wbm")), *words)
    assert not (tmp_path / "m.wbm").exists()


def test_cli_malformed_dataset_file(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"this is not a zip archive")
    assert_one_line_error(run_cli("train", "--dataset", str(bad), "--out", str(tmp_path / "m.wbm")), "broken.npz")


def test_cli_unreadable_model_file(tmp_path):
    folder = tmp_path / "model.wbm"
    folder.mkdir()
    assert_one_line_error(run_cli("build", "--model", str(folder)), "model.wbm", "cannot be read")
