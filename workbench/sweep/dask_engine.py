"""The distributed sweep engine: Dask (``distributed``).

Why Dask and not Ray: a sweep is a bag of independent, coarse tasks (tens of seconds each) whose
results are small dicts; ``client.submit`` + ``as_completed`` is all it needs. ``distributed`` is pure
Python (two wheels of ~1.0 and ~1.5 MB plus small pure-Python dependencies, installed from PyPI in
seconds), starts a local cluster in about a second and runs the same code on a real cluster given a
scheduler address (``dask scheduler`` / ``dask worker`` on each machine). Ray ships a ~80 MB binary
wheel (raylet, GCS server, dashboard), starts several daemons per node, and brings an object store and
actor system a sweep does not use.

Each Dask worker process runs one configuration at a time (``threads_per_worker=1``), so a worker is
one QEMU instance on its own free TCP port, as with the local engine. Results travel back to the
client, which writes them (workers need no shared disk). Workers on other machines need this package,
the Arm toolchain and QEMU installed, as the local workers do.
"""

from __future__ import annotations

from typing import Callable

from workbench.errors import WorkbenchError
from workbench.sweep.core import Config, Event, run_config


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise WorkbenchError("the dask engine needs the 'distributed' package, which is not installed "
                             "(pip install distributed==2026.8.0), or use --engine local") from None
    return distributed


class DaskEngine:
    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None):
        self.distributed = _import_distributed()
        from workbench.sweep.core import default_workers

        self.scheduler = scheduler
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise WorkbenchError(f"--workers must be at least 1, got {self.workers}")

    def describe(self) -> str:
        if self.scheduler:
            return f"Dask cluster at {self.scheduler}"
        return f"local Dask cluster of {self.workers} worker process(es)"

    def _client(self):
        import logging

        d = self.distributed
        if self.scheduler:
            try:
                return d.Client(self.scheduler, timeout="10s"), None
            except OSError as exc:
                raise WorkbenchError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
        cluster = d.LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                 dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)
        return d.Client(cluster), cluster

    def run(self, configs: list[Config], on_event: Callable[[Event], None]) -> None:
        d = self.distributed
        client, cluster = self._client()
        futures = []
        try:
            futures = [client.submit(run_config, c, key=f"workbench-sweep-{c.key}", pure=False, retries=0)
                       for c in configs]
            for c in configs:
                on_event(Event("start", "dask", c.key, c.label()))
            for fut in d.as_completed(futures):
                try:
                    result = fut.result()
                except Exception as exc:  # the worker process died or the task could not run there
                    key = fut.key.removeprefix("workbench-sweep-")
                    on_event(Event("error", "dask", key, f"{type(exc).__name__}: {exc}"))
                    continue
                kind = "error" if "error" in result else "done"
                on_event(Event(kind, "dask", result["key"], result.get("error", ""), result))
        finally:
            if futures:
                client.cancel(futures)
            client.close()
            if cluster is not None:
                cluster.close()
