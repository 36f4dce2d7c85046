"""One run, whole: a ``RunSpec`` in, a written profile out (``workbench run`` and ``demo``, the Python API).

Order: everything that can be refused is refused first (options, board, model file, the output path,
the data), then the slow work (build, device session), then the profile is written.
"""

from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.pipeline.spec import RunSpec


def run_data(spec: RunSpec, mf):
    """The windows a run streams: the data set ``spec`` names, else the one the model file records,
    as the model was trained on it, ``spec.limit`` of them spread over the classes."""
    from workbench.data import load_dataset
    from workbench.pipeline.firmware import check_windows, model_windows

    dataset = spec.dataset or mf.meta.get("dataset")
    if not dataset:
        raise WorkbenchError("the model file does not name its dataset: pass --dataset")
    data = model_windows(mf, load_dataset(dataset, spec.split))
    check_windows(mf, data)
    return data.spread(spec.limit) if spec.limit else data


def run(spec: RunSpec, *, progress=None, on_stage=None) -> tuple[dict, Path]:
    """Run ``spec`` and write its profile; returns (profile, path). ``progress`` hears windows
    streamed (workbench.progress), ``on_stage(text)`` which stage is running."""
    from workbench.boards import load_board
    from workbench.filesystem import check_writable
    from workbench.models.modelfile import load
    from workbench.paths import profiles_dir
    from workbench.profile import default_profile_path, save_measured

    spec.check()
    if spec.out is None:             # the default profiles/ folder is checked before the work too
        check_writable(profiles_dir(), "write the profile into", folder=True)
    board = load_board(spec.board)
    mf = load(spec.model)
    spec.check_for(board, mf)
    data = run_data(spec, mf)
    if board.runs_micropython:
        from workbench.pipeline.micropython import profile_micropython

        profile = profile_micropython(mf, board, data, spec, progress=progress, on_stage=on_stage)
    else:
        from workbench.pipeline.firmware import profile_model

        profile = profile_model(mf, board, data, spec, progress=progress, on_stage=on_stage)
    path = save_measured(profile, spec.out_path or default_profile_path(board.name, profile["model"]),
                         force=spec.force)
    return profile, path
