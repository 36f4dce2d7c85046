"""Training a model on a data set and writing its model file (``workbench train``, the demo, sweeps,
benchmarks and the Python API all come through here).

Everything that can be refused is refused before torch is imported (a second or more): the family,
the cells for each arithmetic, the sizes, k against the window, the training options.
"""

from __future__ import annotations

import time
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.filesystem import check_output_file
from workbench.models.families import FAMILY_LEVELS, check_cells

# The demo's model: ShaRNN, GRU lower and upper cells, hidden 16/16, bricks of 10 steps, on BasicMotions.
DEMO_MODEL = {"dataset": "BasicMotions", "family": "sharnn", "cells": ["gru", "gru"], "hidden": [16, 16], "k": 10}
DEMO_EPOCHS = 150


def demo_model_path(seed: int = 0) -> Path:
    from workbench.paths import build_dir

    return build_dir() / "demo" / f"basicmotions-sharnn-gru-seed{seed}.wbm"


def train_demo_model(seed: int = 0, epochs: int = DEMO_EPOCHS, progress=None) -> tuple[Path, float]:
    """Train the demo's model (DEMO_MODEL) into ``demo_model_path(seed)``; returns (path, test accuracy)."""
    d = DEMO_MODEL
    return train_model(d["dataset"], d["family"], d["cells"], d["hidden"], d["k"], epochs, seed, demo_model_path(seed),
                       progress=progress)


def demo_model(seed: int = 0) -> Path:
    """The demo's model file, trained first if it is not there yet (benchmarks start from it)."""
    path = demo_model_path(seed)
    return path if path.is_file() else train_demo_model(seed)[0]


def default_k(window: int) -> int:
    """The divisor of T nearest sqrt(T): it minimises the O(T/k + k) sequential steps."""
    divisors = [d for d in range(1, window + 1) if window % d == 0]
    return min(divisors, key=lambda d: (abs(d - window ** 0.5), d))


def per_level(values, levels: int, what: str) -> list:
    """One value for every level (``gru`` -> ``[gru, gru]``), or exactly one per level."""
    values = list(values)
    if len(values) == 1:
        values = values * levels
    if len(values) != levels:
        raise WorkbenchError(f"{what}: {len(values)} given, the model has {levels} level(s)")
    return values


def model_config(family: str, cells, hidden, window: int, input_dim: int, num_classes: int, k: int | None = None,
                 cell_options: list[dict] | None = None) -> dict:
    """A model's config (what ``build_model`` takes), checked: family, cells, sizes, k against T."""
    levels = FAMILY_LEVELS.get(family)
    if levels is None:
        raise WorkbenchError(f"unknown model family {family!r}; known: {', '.join(FAMILY_LEVELS)}")
    cells = [str(c).strip().lower() for c in cells]
    hidden = [int(h) for h in hidden]
    if any(h < 1 for h in hidden):
        raise WorkbenchError(f"--hidden {','.join(map(str, hidden))}: hidden sizes must be at least 1")
    if len(cells) == 1:
        cells = cells * levels
    if len(hidden) == 1:
        hidden = hidden * levels
    if len(cells) != levels or len(hidden) != levels:
        raise WorkbenchError(f"family {family} takes {levels} cell(s) and {levels} hidden size(s)")
    check_cells(cells)
    config = {"family": family, "cells": cells, "hidden": hidden, "window": window, "input_dim": input_dim,
              "num_classes": num_classes}
    if cell_options and any(cell_options):
        config["cell_options"] = per_level(cell_options, levels, "--cell-options")
    if family == "sharnn":
        k = default_k(window) if k is None else k
        if k < 1:
            raise WorkbenchError(f"--k {k}: the brick size must be at least 1")
        if window % k:
            raise WorkbenchError(f"brick size k={k} does not divide the window length T={window}")
        config["k"] = k
    return config


def training_options(dataset, **given) -> dict:
    """The training options of a run (``workbench train``, ``wb.train``): the data set's own settings
    (DATASET_TRAINING, for bundled sets) overridden by those ``given`` (None: not given), checked by
    TrainConfig before any data is read."""
    from workbench.data.source import Data
    from workbench.models.trainconfig import TrainConfig, dataset_training

    name = dataset.record.get("name", "") if isinstance(dataset, Data) else str(dataset)
    options = dataset_training(name, **given)
    TrainConfig(**options)
    return options


def train_model(dataset, family: str, cells, hidden, k: int | None, epochs: int, seed: int, out: Path, *,
                cell_options: list[dict] | None = None, window: int | None = None, progress=None,
                **train_options) -> tuple[Path, float]:
    """Train one model on ``dataset`` (a bundled name, a file, a WAV folder, or a ``Data``) and write
    its file; returns (path, test accuracy). See ``fit``."""
    check_output_file(out, "model file")       # before the training, not after it
    mf, test_acc = fit(dataset, family, cells, hidden, k, epochs, seed, cell_options=cell_options, window=window,
                       progress=progress, **train_options)
    from workbench.models.modelfile import save

    save(mf, out)
    return Path(out), test_acc


def fit(dataset, family: str, cells, hidden, k: int | None, epochs: int, seed: int, *,
        cell_options: list[dict] | None = None, window: int | None = None, progress=None,
        **train_options):
    """Train one model; returns (ModelFile, test accuracy). ``train_options`` override ``TrainConfig``'s
    defaults (patience, val_fraction, lr, ...; ``training_options`` adds a data set's own settings);
    ``progress``: where epochs are reported (silent if None). The model file records where its data came
    from (``meta["data"]``). A model whose weights are not all finite is refused, never returned."""
    from workbench.data import align_to_window
    from workbench.data.source import dataset_name, model_record, open_data
    from workbench.models.trainconfig import TrainConfig

    cfg = TrainConfig(epochs=epochs, seed=seed, **train_options)
    data = open_data(dataset)
    tr, te = data.train, data.split("test")
    if window is not None:
        tr, te = align_to_window(tr, window), align_to_window(te, window)
    if te.window_length != tr.window_length or te.num_channels != tr.num_channels:
        raise WorkbenchError(f"dataset {data.name}: test windows {te.x.shape[1:]} differ from training windows "
                             f"{tr.x.shape[1:]}")
    config = model_config(family, cells, hidden, tr.window_length, tr.num_channels, tr.num_classes, k, cell_options)

    import torch

    from workbench.models import build_model
    from workbench.models.modelfile import from_module
    from workbench.models.train import accuracy, train

    torch.manual_seed(seed)
    model = build_model(config)
    started = time.perf_counter()
    result = train(model, tr, cfg, progress=progress)
    seconds = round(time.perf_counter() - started, 1)
    check_finite_weights(model, f"training on {data.name} diverged after {result.epochs_run} epochs",
                         "no model written (lower --lr)")
    test_acc = accuracy(model, te.x, te.y)
    meta = {"dataset": dataset_name(data), "data": model_record(data, tr.window_length, tr.num_channels),
            "class_names": tr.class_names, "seed": seed,
            "train": {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "refit": result.refit,
                      "val_accuracy": result.val_accuracy, "val_loss": result.val_loss,
                      "train_accuracy": result.train_accuracy, "test_accuracy": test_acc, "config": vars(cfg),
                      "seconds": seconds}}
    if meta["dataset"] is None:
        del meta["dataset"]
    if window is not None:
        meta["window_prep"] = {"window": window, "align": "end", "pad": "zeros in front"}
    return from_module(model, meta), test_acc


def check_finite_weights(model, what: str, consequence: str) -> None:
    """Refuse a torch module with a NaN or infinite weight: one line naming the first such tensor."""
    import torch

    for name, tensor in model.state_dict().items():
        if not bool(torch.isfinite(tensor).all()):
            raise WorkbenchError(f"{what}: weight {name} holds NaN or infinite values; {consequence}")


def import_edgeml(dataset, state_path: Path, k: int | None, out: Path, raw_input: bool) -> tuple[Path, float]:
    """Write a model file from an EdgeML SRNN2 state dict (no training); returns (path, test accuracy)."""
    from workbench.data.source import dataset_name, model_record, open_data
    from workbench.models.edgeml import cell_type_of, from_srnn2_state_dict, load_state_dict_file
    from workbench.models.modelfile import from_module, save
    from workbench.models.train import accuracy

    check_output_file(out, "model file")
    sd = load_state_dict_file(state_path)
    cell_type = cell_type_of(sd)
    data = open_data(dataset)
    tr, te = data.train, data.split("test")
    k = k if k is not None else default_k(tr.window_length)
    mean = std = None
    if not raw_input:   # what EdgeML's SRNN examples do before calling SRNN2: per-feature train statistics
        from workbench.data.checks import normalization_stats

        mean, std = normalization_stats(tr.x)
    model = from_srnn2_state_dict(sd, cell_type, k, tr.window_length, mean, std)
    if model.cell1.input_size != tr.num_channels or model.fc.out_features != tr.num_classes:
        raise WorkbenchError(f"{state_path}: SRNN2 takes {model.cell1.input_size} features and has "
                             f"{model.fc.out_features} classes; dataset {data.name} has {tr.num_channels} and "
                             f"{tr.num_classes}")
    check_finite_weights(model, str(state_path), "no model written")
    test_acc = accuracy(model, te.x, te.y)
    meta = {"dataset": dataset_name(data), "data": model_record(data, tr.window_length, tr.num_channels),
            "class_names": tr.class_names,
            "source": {"edgeml_srnn2": str(state_path), "cellType": cell_type,
                       "input": "raw" if raw_input else "standardised with training mean/std"},
            "train": {"test_accuracy": test_acc}}
    if meta["dataset"] is None:
        del meta["dataset"]
    save(from_module(model, meta), out)
    return out, test_acc


def imported_model(model, source: dict, dataset=None):
    """A model file from a torch model built outside training (``wb.from_torch``, ``workbench import``);
    returns (ModelFile, test accuracy or None). With ``dataset`` (a name, file, folder or Data) its
    windows and classes are checked against the model and recorded as the model's data."""
    from workbench.models.modelfile import from_module

    check_finite_weights(model, "the imported model", "nothing imported")
    meta: dict = {"source": source}
    test_acc = None
    if dataset is not None:
        from workbench.data.source import dataset_name, model_record, open_data
        from workbench.models.train import accuracy

        data = open_data(dataset)
        cfg = model.config()
        tr = data.train
        if (tr.window_length, tr.num_channels) != (cfg["window"], cfg["input_dim"]):
            raise WorkbenchError(f"dataset {data.name} windows are {tr.window_length}x{tr.num_channels}; the model "
                                 f"takes {cfg['window']}x{cfg['input_dim']}")
        if tr.num_classes != cfg["num_classes"]:
            raise WorkbenchError(f"dataset {data.name} has {tr.num_classes} classes; the model's head gives "
                                 f"{cfg['num_classes']}")
        if data.test is not None:
            test_acc = accuracy(model, data.test.x, data.test.y)
        meta.update({"data": model_record(data, tr.window_length, tr.num_channels), "class_names": tr.class_names,
                     "train": {"test_accuracy": test_acc}})
        if dataset_name(data):
            meta["dataset"] = dataset_name(data)
    return from_module(model, meta), test_acc


def import_torch_state(state_path: Path, cells, window: int | None, k: int | None, dataset, out: Path):
    """``workbench import``: a model file from a saved state dict of nn.LSTM/nn.GRU layers and an
    nn.Linear head (``workbench.models.fromtorch``); returns (path, test accuracy or None)."""
    from workbench.data.source import open_data
    from workbench.models.edgeml import load_state_dict_file
    from workbench.models.modelfile import save

    data = open_data(dataset) if dataset is not None else None
    if window is None:
        if data is None:
            raise WorkbenchError("give --window T (the steps the model classifies) or --dataset D to take it from")
        window = data.train.window_length
    sd = load_state_dict_file(state_path, what="state dict")

    from workbench.models.fromtorch import from_state_dict

    model = from_state_dict(sd, [c.strip().lower() for c in cells], window, k, what=str(state_path))
    mf, acc = imported_model(model, {"torch_state_dict": str(state_path)}, data)
    save(mf, out)
    return Path(out), acc
