"""Sweeps: a grid of configurations, each trained, built, run on an emulated board and profiled
(``core``: the grid, one configuration's run, the local engine, the driver; ``dask_engine``: a Dask
cluster). ``make_engine`` picks the engine; the Dask one is imported only when asked for.
"""

from workbench.errors import WorkbenchError
from workbench.sweep.core import (Config, Event, LocalEngine, SweepInterrupted, SweepResult, check_grid,
                                  expand_grid, run_config, run_sweep)

__all__ = ["Config", "Event", "LocalEngine", "SweepInterrupted", "SweepResult", "check_grid", "expand_grid",
           "make_engine", "run_config", "run_sweep"]


def make_engine(name: str, workers: int | None = None, scheduler: str | None = None):
    if workers is not None and workers < 1:
        raise WorkbenchError(f"--workers must be at least 1, got {workers}")
    if name == "local":
        if scheduler:
            raise WorkbenchError("--scheduler applies to --engine dask only")
        return LocalEngine(workers)
    if name == "dask":
        from workbench.sweep.dask_engine import DaskEngine

        return DaskEngine(workers, scheduler)
    raise WorkbenchError(f"unknown sweep engine '{name}' (have: local, dask)")
