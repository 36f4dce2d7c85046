"""The Python API (``import workbench as wb``): the command line's operations on arrays, files and
torch modules, with the same checks and the same one-line errors (``wb.WorkbenchError``).

    data = wb.load_data("my.npz")                  # or a bundled name, a .csv, a WAV folder, arrays
    model = wb.train(data, cells=("gru", "gru"), hidden=(16, 16), k=10, epochs=30, seed=0)
    model.save("m.wbm")
    profile = wb.run(model, board="mps2-an386", quant="q15")

Each function is thin over the library (``workbench.data.source``, ``workbench.pipeline``). Nothing is
printed unless ``progress=True`` (a live bar on a terminal, plain lines elsewhere, as the CLI).
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

from workbench.data.source import Data
from workbench.errors import WorkbenchError

__all__ = ["Data", "Model", "from_torch", "load_data", "load_model", "run", "train"]


class Model:
    """A model in memory: its model file's contents (``file``: a ModelFile) and, when known in this
    session, the data it was trained on (``data``) and where it was saved or loaded from (``path``)."""

    def __init__(self, file, data: Data | None = None, path: Path | None = None):
        self.file, self.data, self.path = file, data, path

    @property
    def config(self) -> dict:
        return self.file.config

    @property
    def meta(self) -> dict:
        return self.file.meta

    @property
    def content_hash(self) -> str:
        return self.file.content_hash

    @property
    def test_accuracy(self) -> float | None:
        """Float (torch) accuracy on the test split it was trained or imported with, if any."""
        return self.file.meta.get("train", {}).get("test_accuracy")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file (``.wbm``): what ``workbench run --model`` and the other commands take."""
        from workbench.models.modelfile import save

        self.path = save(self.file, path)
        return self.path

    def logits(self, x):
        """Float logits ``[N, classes]`` of windows ``x[N, T, C]`` (raw values: the model normalises)."""
        import numpy as np

        from workbench.models.train import predict_logits

        return predict_logits(self.file.build(), np.ascontiguousarray(x, dtype=np.float32))

    def predict(self, x):
        """Class indices of windows ``x[N, T, C]``."""
        return self.logits(x).argmax(axis=1)

    def __repr__(self) -> str:
        c = self.config
        k = f", k={c['k']}" if "k" in c else ""
        return (f"Model({c['family']} {'/'.join(c['cells'])} hidden {'/'.join(map(str, c['hidden']))}{k}, "
                f"T={c['window']}, {c['input_dim']} channels, {c['num_classes']} classes, {self.content_hash[:12]})")


def load_data(source: str | os.PathLike | None = None, *, x=None, y=None, x_test=None, y_test=None,
              class_names=None, sample_rate_hz: float | None = None, lengths=None, lengths_test=None,
              name: str = "arrays") -> Data:
    """A data set: ``source`` (a bundled name, a ``.npz``/``.csv`` file, a folder of WAV files per
    class), or arrays ``x[N, T, C]`` (or ``[N, T]``), ``y[N]`` (class indices or names) with an
    optional test split. Checked at once (values, labels, classes); ``Data.train``/``.test`` are the
    splits, ``Data.record`` says where they came from."""
    from workbench.data.source import from_arrays, open_data

    if source is not None:
        if x is not None or y is not None:
            raise WorkbenchError("load_data: give a source or arrays (x=, y=), not both")
        return open_data(source)
    if x is None or y is None:
        raise WorkbenchError("load_data: give a source (name, file or folder) or arrays x= and y=")
    return from_arrays(x, y, x_test, y_test, class_names=class_names, sample_rate_hz=sample_rate_hz, lengths=lengths,
                       lengths_test=lengths_test, name=name)


def load_model(path: str | os.PathLike) -> Model:
    """A model file (``.wbm``), checked as every command checks it."""
    from workbench.models.modelfile import load

    return Model(load(path), path=Path(path))


def train(data: Data | str | os.PathLike, *, family: str = "sharnn", cells="gru", hidden=16, k: int | None = None,
          epochs: int | None = None, seed: int = 0, window: int | None = None, cell_options=None,
          progress: bool = False, **options) -> Model:
    """Train a model as ``workbench train`` does (the same options: ``patience``, ``lr``, ``batch_size``,
    ``val_fraction``, ``refit``, ``augment``, ``shift``, ...; a bundled data set's own settings apply
    unless given). ``cells``/``hidden``: one value for every level or one per level (``("lstm",
    "gru")``, ``"lstm,gru"``); ``cell_options``: a dict for every level or one per level."""
    from workbench.data.source import open_data
    from workbench.models.trainconfig import TrainConfig
    from workbench.pipeline import training

    data = open_data(data)
    opts = training.training_options(data, epochs=epochs, **options)
    epochs = opts.pop("epochs", TrainConfig().epochs)
    levels = _levels(family)
    with _progress(progress) as bar:
        mf, _ = training.fit(data, family, _per_level(cells, str), _per_level(hidden, int), k, epochs, seed,
                             cell_options=_cell_options(cell_options, levels), window=window, progress=bar, **opts)
    return Model(mf, data)


def from_torch(module=None, *, window: int | None = None, lower=None, upper=None, head=None, k: int | None = None,
               data: Data | str | os.PathLike | None = None, mean=None, std=None) -> Model:
    """A model trained elsewhere: ``module`` made of one ``nn.LSTM`` or ``nn.GRU`` (batch-first or not)
    and an ``nn.Linear`` head on its last output; or a ShaRNN from ``lower``, ``upper`` (such layers)
    and ``head`` with brick length ``k``. ``window``: the steps it classifies [``data``'s]; ``data``:
    checked against the model and recorded (``run`` and int16 calibration use it); ``mean``/``std``:
    per-channel input normalisation the module expects done beforehand (folded into the model)."""
    from workbench.data.source import open_data
    from workbench.models import fromtorch
    from workbench.pipeline.training import check_finite_weights, imported_model

    data = open_data(data) if data is not None else None
    if window is None and data is not None:
        window = data.train.window_length
    if module is not None:
        if lower is not None or upper is not None or head is not None:
            raise WorkbenchError("from_torch: give a module, or lower=, upper=, head= (a ShaRNN), not both")
        rnn, lin = fromtorch.parts_of(module)
        model = fromtorch.single(rnn, lin, window, mean, std)
        check_finite_weights(model, "the imported model", "nothing imported")   # first: NaN would blame forward
        fromtorch.check_same_logits(module, rnn, model, model.window, mean, std)
        source = {"torch_module": type(module).__name__}
    else:
        if lower is None or upper is None or head is None:
            raise WorkbenchError("from_torch: give a module (one nn.LSTM/nn.GRU and an nn.Linear), or lower=, upper= "
                                 "and head= with k= for a ShaRNN")
        model = fromtorch.sharnn(lower, upper, head, k, window, mean, std)
        source = {"torch_modules": {"lower": type(lower).__name__, "upper": type(upper).__name__, "head": "Linear"}}
    mf, _ = imported_model(model, source, data)
    return Model(mf, data)


RUN_ALIASES = {"kernel": "kernel_path"}
BUILD_OPTIONS = {"opt": "opt", "cflags": "extra_cflags", "link": "link"}


def run(model: Model | str | os.PathLike, *, board: str = "mps2-an386", quant: str = "f32",
        data: Data | str | os.PathLike | None = None, calibration: str | os.PathLike | None = None,
        out: str | os.PathLike | None = None, progress: bool = False, **options) -> dict:
    """Build, run and profile ``model`` as ``workbench run`` does; returns the profile (the dict the CLI
    writes; written too when ``out`` is given). ``data``: what to stream [the model's own data];
    ``calibration``: data set an int16 plan is calibrated on [the model's training data]; ``options``:
    the CLI's (``limit``, ``split``, ``backend``, ``kernel``, ``link``, ``opt``, ``cflags``, ``port``,
    ``emulator``, ``counter``, ``sliding``, ``stream``, ``fault_link``, ``link_timeout``, ``force``, ...)."""
    from workbench.pipeline.run import profile_of
    from workbench.pipeline.spec import BuildOptions, RunSpec
    from workbench.profile import write_profile

    path = _model_path(model)
    given = data if data is not None else (model.data if isinstance(model, Model) else None)
    known = {f.name for f in fields(RunSpec)} - {"model", "board", "quant", "dataset", "calibration", "out", "build"}
    spec_fields, build = {}, {}
    for key, value in options.items():
        key = RUN_ALIASES.get(key, key)
        if key in BUILD_OPTIONS:
            build[BUILD_OPTIONS[key]] = value
        elif key in known:
            spec_fields[key] = value
        else:
            raise WorkbenchError(f"run: unknown option {key!r} (have: "
                                 f"{', '.join(sorted(known | set(BUILD_OPTIONS) | set(RUN_ALIASES)))})")
    spec = RunSpec(model=path, board=board, quant=quant, out=out,
                   dataset=None if given is None or isinstance(given, Data) else str(given),
                   calibration=None if calibration is None else str(calibration),
                   build=BuildOptions(**build), **spec_fields)
    with _progress(progress) as bar:
        profile = profile_of(spec, data=given if isinstance(given, Data) else None, progress=bar,
                             on_stage=bar.console.print if progress else None)
    if out is not None:
        write_profile(profile, out, force=spec.force)
    return profile


def _model_path(model) -> Path:
    """A model's file: as given, or a Model's (saved under build/models/ first when it has none, or
    when the file there is another model now)."""
    if not isinstance(model, Model):
        return Path(model)
    if model.path is not None and Path(model.path).is_file():
        from workbench.models.modelfile import load

        if load(model.path).content_hash == model.content_hash:
            return Path(model.path)
    from workbench.models.modelfile import save
    from workbench.paths import build_dir

    return save(model.file, build_dir() / "models" / f"{model.content_hash[:16]}.wbm")


def _levels(family: str) -> int:
    from workbench.models.families import FAMILY_LEVELS

    if family not in FAMILY_LEVELS:
        raise WorkbenchError(f"unknown model family {family!r}; known: {', '.join(FAMILY_LEVELS)}")
    return FAMILY_LEVELS[family]


def _per_level(value, convert) -> list:
    """``"lstm,gru"``, ``("lstm", "gru")``, ``"gru"``, ``16``, ``(16, 8)`` -> a list, converted."""
    if isinstance(value, str):
        value = value.replace("/", ",").split(",")
    elif not isinstance(value, (list, tuple)):
        value = [value]
    try:
        return [convert(v.strip() if isinstance(v, str) else v) for v in value]
    except (TypeError, ValueError):
        raise WorkbenchError(f"expected one value per level, got {value!r}") from None


def _cell_options(value, levels: int):
    if value is None:
        return None
    if isinstance(value, dict):
        return [dict(value) for _ in range(levels)]
    return [dict(v) for v in value]


def _progress(show: bool):
    from workbench.progress import Silent, progress_for

    return progress_for() if show else Silent()
