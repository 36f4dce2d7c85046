"""One run, whole: a ``RunSpec`` in, a written profile out (``workbench run`` and ``demo``, the Python API).

Order: everything that can be refused is refused first (options, board, model file, the output path,
the data), then the slow work (build, device session), then the profile is written.
"""

from __future__ import annotations

from pathlib import Path

from workbench.pipeline.spec import RunSpec


def run_data(spec: RunSpec, mf, data=None):
    """The windows a run streams and the windows its int plan is calibrated on (None for f32):
    ``data`` (a ``Data``, the Python API's) or the data set ``spec`` names, else the one the model
    file records (found again by its path and sha256), as the model was trained on it, ``spec.limit``
    of them spread over the classes."""
    from workbench.data.source import model_data
    from workbench.pipeline.firmware import calibration_windows, check_windows, model_windows

    source = model_data(mf.meta, data if data is not None else spec.dataset, model=str(spec.model))
    windows = model_windows(mf, source.split(spec.split))
    check_windows(mf, windows)
    calib_x = None if spec.quant == "f32" else \
        calibration_windows(mf, source, spec.calibration, model=str(spec.model))
    return (windows.spread(spec.limit) if spec.limit else windows), calib_x


def run(spec: RunSpec, *, progress=None, on_stage=None, data=None) -> tuple[dict, Path]:
    """Run ``spec`` and write its profile; returns (profile, path). ``progress`` hears windows
    streamed (workbench.progress), ``on_stage(text)`` which stage is running; ``data`` (a ``Data``)
    stands in for ``spec.dataset`` (arrays from Python have no name to put there)."""
    from workbench.filesystem import check_writable
    from workbench.paths import profiles_dir
    from workbench.profile import default_profile_path, save_measured

    if spec.out is None:             # the default profiles/ folder is checked before the work too
        check_writable(profiles_dir(), "write the profile into", folder=True)
    profile = profile_of(spec, progress=progress, on_stage=on_stage, data=data)
    # A measured profile is never lost: if it cannot be written, it goes to a fallback file the error names.
    path = save_measured(profile, spec.out_path or default_profile_path(profile["board"], profile["model"]),
                         force=spec.force)
    return profile, path


def profile_of(spec: RunSpec, *, progress=None, on_stage=None, data=None) -> dict:
    """``run`` without writing: the profile of ``spec`` (the Python API writes it only when asked)."""
    from workbench.boards import load_board
    from workbench.models.modelfile import load

    spec.check()
    board = load_board(spec.board)
    mf = load(spec.model)
    spec.check_for(board, mf)
    windows, calib_x = run_data(spec, mf, data)
    if board.runs_micropython:
        from workbench.pipeline.micropython import profile_micropython

        return profile_micropython(mf, board, windows, spec, progress=progress, on_stage=on_stage, calib_x=calib_x)
    from workbench.pipeline.firmware import profile_model

    return profile_model(mf, board, windows, spec, progress=progress, on_stage=on_stage, calib_x=calib_x)
