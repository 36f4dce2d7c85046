"""Sweeps: a grid of configurations, each trained, built, run on an emulated board and profiled.

A configuration is one point of the grid (dataset, family, cells, hidden sizes, k, quantization,
board, epochs, seed, windows). Its ``key`` is readable and ends in a hash of all of it, so the key
names one profile file in the sweep's folder (``ProfileStore``) and a finished configuration is never
run twice: rerunning a sweep runs only the keys without a profile. Each result is written the moment
it arrives (profile by temp file + rename, after its model file), so an interrupted sweep loses only
the configurations that were still running.

Engines run ``run_config`` (one configuration, start to finish, in a worker process: one QEMU per
worker, each on its own free TCP port):
- ``LocalEngine`` (default): worker processes on this machine, one per core unless told otherwise;
- ``workbench.sweep.dask_engine.DaskEngine``: a Dask cluster (``distributed``), for a sweep that outgrows one
  machine; imported only when asked for, so the local default needs no distributed package.

Engines report ``Event``s (start, stage, done, error) to the driver ``run_sweep``, which writes the
results and feeds a display (the CLI's rich progress).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import signal
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from workbench.errors import Interrupted, WorkbenchError
from workbench.filesystem import check_writable, write_atomic
from workbench.models.families import FAMILY_LEVELS
from workbench.profile.store import ProfileStore
from workbench.targets import die_with_parent


@dataclass(frozen=True)
class Config:
    """One point of a sweep grid."""

    dataset: str
    family: str
    cells: tuple[str, ...]
    hidden: tuple[int, ...]
    k: int | None
    quantization: str
    board: str
    epochs: int
    seed: int = 0
    limit: int | None = None     # test windows to stream (None: all)

    @property
    def key(self) -> str:
        canon = json.dumps(asdict(self), sort_keys=True)
        digest = hashlib.sha256(canon.encode()).hexdigest()[:8]
        k = f"-k{self.k}" if self.k is not None else ""
        return (f"{self.board}-{self.family}-{'-'.join(self.cells)}-h{'-'.join(map(str, self.hidden))}{k}-"
                f"{self.quantization}-{digest}")

    def label(self) -> str:
        k = f" k={self.k}" if self.k is not None else ""
        return f"{self.family} {'/'.join(self.cells)} {'/'.join(map(str, self.hidden))}{k} {self.quantization} " \
               f"{self.board}"


def _per_level(spec: str, levels: int, what: str, convert=str) -> tuple:
    """'gru' -> (gru, gru); 'lstm,gru' (or 'lstm/gru') -> (lstm, gru) for a two-level family; one level
    takes the first."""
    parts = [p.strip() for p in spec.replace("/", ",").split(",") if p.strip()]
    try:
        values = tuple(convert(p) for p in parts)
    except ValueError:
        raise WorkbenchError(f"sweep: {what} '{spec}' is not valid (use e.g. 16 or 8,16)") from None
    if len(values) == 1:
        values = values * levels
    if len(values) < levels:
        raise WorkbenchError(f"sweep: {what} '{spec}' names {len(values)} level(s); this family has {levels}")
    return values[:levels]


def expand_grid(*, dataset: str, families: Iterable[str], cells: Iterable[str], hidden: Iterable[str],
                ks: Iterable[int], quantizations: Iterable[str], boards: Iterable[str], epochs: int, seed: int = 0,
                limit: int | None = None) -> list[Config]:
    """The grid's configurations in a stable order, duplicates removed (k does not apply to ``rnn``)."""
    out: dict[str, Config] = {}
    for fam, cell, hid, k, q, board in itertools.product(families, cells, hidden, ks, quantizations, boards):
        if fam not in FAMILY_LEVELS:
            raise WorkbenchError(f"sweep: unknown family '{fam}' (have: {', '.join(FAMILY_LEVELS)})")
        levels = FAMILY_LEVELS[fam]
        c = Config(dataset=dataset, family=fam, cells=_per_level(cell.lower(), levels, "cells"),
                   hidden=_per_level(str(hid), levels, "hidden", int), k=k if fam == "sharnn" else None,
                   quantization=q, board=board, epochs=epochs, seed=seed, limit=limit)
        out.setdefault(c.key, c)
    if not out:
        raise WorkbenchError("sweep: the grid is empty")
    return list(out.values())


def check_grid(configs: list[Config]) -> None:
    """Refuse, in one line and before any work starts, values this build cannot run."""
    from workbench.boards import load_board
    from workbench.data import load_dataset
    from workbench.models.families import check_cells, check_kernel_cells
    from workbench.pipeline.spec import check_quantization

    windows = {}
    for c in configs:
        board = load_board(c.board)
        if not board.qemu or "baremetal" not in board.backends:
            raise WorkbenchError(f"sweep: board {board.name} has no QEMU machine with a bare-metal port; sweeps run "
                                 "emulated boards")
        check_quantization(c.quantization)
        try:
            check_cells(c.cells)
            check_kernel_cells(c.cells, c.quantization)
        except WorkbenchError as exc:
            raise WorkbenchError(f"sweep: {exc}") from None
        if any(h <= 0 for h in c.hidden):
            raise WorkbenchError(f"sweep: hidden sizes must be positive, got {'/'.join(map(str, c.hidden))}")
        if c.epochs <= 0:
            raise WorkbenchError(f"sweep: epochs must be positive, got {c.epochs}")
        if c.dataset not in windows:
            windows[c.dataset] = load_dataset(c.dataset, "train").window_length
        T = windows[c.dataset]
        if c.k is not None and (c.k <= 0 or T % c.k):
            raise WorkbenchError(f"sweep: k={c.k} does not divide the window of {c.dataset} (T={T})")


def run_config(config: Config, status: Callable[[str], None] | None = None) -> dict:
    """Train, build, run and profile one configuration (in a worker process).

    Returns ``{"key", "profile", "model", "seconds"}`` (``model``: the model file's bytes), or
    ``{"key", "error", "trace"}``: a configuration that fails is reported, it does not stop the sweep.
    Nothing here writes outside the build folder: the driver stores results, so a worker on another
    machine needs no shared disk.
    """
    t0 = time.monotonic()
    stages: list[list] = []          # [stage, seconds]: where a configuration's time goes

    def say(text: str) -> None:
        now = time.monotonic()
        if stages:
            stages[-1][1] = round(now - stages[-1][1], 2)
        stages.append([text.split(" (")[0].split(" for ")[0], now])
        if status:
            status(text)

    try:
        import torch

        from workbench.boards import load_board
        from workbench.data import load_dataset
        from workbench.models.modelfile import load
        from workbench.paths import build_dir
        from workbench.pipeline.firmware import profile_model
        from workbench.pipeline.spec import RunSpec
        from workbench.pipeline.training import train_model
        from workbench.progress import CallbackProgress

        torch.set_num_threads(1)      # one core per worker; the worker count is the parallelism
        root = build_dir() / "sweep" / config.key
        say(f"train ({config.epochs} epochs)")
        model_path, _ = train_model(config.dataset, config.family, list(config.cells), list(config.hidden), config.k,
                                    config.epochs, config.seed, root / "model.wbm",
                                    progress=CallbackProgress(status or (lambda text: None)))
        mf = load(model_path)
        data = load_dataset(config.dataset, "test")
        if config.limit:
            data = data.spread(config.limit)
        spec = RunSpec(model_path, board=config.board, quant=config.quantization)
        profile = profile_model(mf, load_board(config.board), data, spec, root=root, on_stage=say)
        say("done")
        seconds = time.monotonic() - t0
        profile.setdefault("extra", {})["sweep"] = {"key": config.key, "config": asdict(config),
                                                    "seconds": round(seconds, 2), "stages": dict(stages[:-1])}
        return {"key": config.key, "profile": profile, "model": model_path.read_bytes(), "seconds": seconds}
    except WorkbenchError as exc:
        return {"key": config.key, "error": str(exc), "trace": ""}
    except Exception as exc:  # a bug: keep its traceback for the sweep's error log
        return {"key": config.key, "error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}


@dataclass
class Event:
    kind: str            # start | stage | done | error
    worker: str
    key: str
    text: str = ""
    result: dict | None = None


@dataclass
class SweepResult:
    total: int
    skipped: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class SweepInterrupted(Interrupted):
    """Ctrl-C or SIGTERM: workers stopped, finished profiles kept."""


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _worker_main(worker: str, tasks, events) -> None:
    """A local worker process: configurations from ``tasks`` until None; events to ``events``."""
    import multiprocessing as mp

    # Its own session: a worker is an independent job, like a command in its own terminal. Where the
    # kernel groups CPU time by session (autogroup scheduling, on by default on Linux desktops and on
    # this machine) the workers would otherwise share one session's slice of a busy machine, and two
    # workers would run no faster than one. Ctrl-C then reaches only the driver, which stops workers
    # with SIGTERM; we turn that into an exception so `with QemuTarget` kills its QEMU on the way out.
    try:
        os.setsid()
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def terminate(_sig, _frame):
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, terminate)
    # A driver killed outright (SIGKILL) runs no cleanup: the kernel then sends this worker SIGTERM, and
    # its QEMU goes with it (the `with` of the target, and QEMU's own death signal).
    die_with_parent(signal.SIGTERM)
    events.cancel_join_thread()      # never hang at exit on a driver that is gone
    parent = mp.parent_process()
    if parent is not None and not parent.is_alive():
        return                       # the driver died before the death signal was armed
    try:
        while True:
            config = tasks.get()
            if config is None or (parent is not None and not parent.is_alive()):
                return               # done, or the driver died (killed): stop after the current config
            events.put(Event("start", worker, config.key, config.label()))
            result = run_config(config, lambda text, key=config.key: events.put(Event("stage", worker, key, text)))
            events.put(Event("error" if "error" in result else "done", worker, config.key, result.get("error", ""),
                             result))
    except SystemExit as stop:
        # Stopped: its QEMU is reaped (the `with` blocks ran on the way here). Exit now: tearing down an
        # interpreter that loaded torch took ~30 s on a busy machine, a worker outliving its sweep.
        os._exit(stop.code if isinstance(stop.code, int) else 1)


class LocalEngine:
    """Worker processes on this machine (spawned: a fresh interpreter each, no forked torch state)."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or default_workers()
        if self.workers < 1:
            raise WorkbenchError(f"--workers must be at least 1, got {self.workers}")

    def describe(self) -> str:
        return f"{self.workers} local worker process(es)"

    def run(self, configs: list[Config], on_event: Callable[[Event], None]) -> None:
        import multiprocessing as mp
        import queue

        ctx = mp.get_context("spawn")
        tasks, events = ctx.Queue(), ctx.Queue()
        n = min(self.workers, len(configs))
        for c in configs:
            tasks.put(c)
        for _ in range(n):
            tasks.put(None)
        procs = {f"w{i + 1}": ctx.Process(target=_worker_main, args=(f"w{i + 1}", tasks, events), daemon=True)
                 for i in range(n)}
        for p in procs.values():
            p.start()
        running: dict[str, str] = {}      # worker -> key it is on
        remaining = len(configs)
        finished = False
        try:
            while remaining:
                try:
                    ev = events.get(timeout=0.5)
                except queue.Empty:
                    for w, p in procs.items():   # a worker that died (killed, segfault) loses its config
                        if not p.is_alive() and w in running:
                            on_event(Event("error", w, running.pop(w), f"worker died (exit code {p.exitcode})"))
                            remaining -= 1
                    if not any(p.is_alive() for p in procs.values()) and remaining:
                        raise WorkbenchError(f"sweep: all workers exited with {remaining} configuration(s) "
                                             "left") from None
                    continue
                if ev.kind == "start":
                    running[ev.worker] = ev.key
                elif ev.kind in ("done", "error"):
                    running.pop(ev.worker, None)
                    remaining -= 1
                on_event(ev)
            finished = True
        finally:
            for p in procs.values():
                if p.is_alive() and not finished:
                    p.terminate()
            for p in procs.values():
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
                    p.join()


def run_sweep(configs: list[Config], out_dir: Path, engine, on_event: Callable[[Event], None] | None = None,
              on_skip: Callable[[list[Config]], None] | None = None) -> SweepResult:
    """Run the configurations of ``configs`` that have no profile in ``out_dir`` yet; store each result
    as it arrives (model file, then profile)."""
    check_writable(out_dir, "write the sweep's profiles into", folder=True)
    store = ProfileStore(out_dir)
    store.clean_partial()
    todo = [c for c in configs if not store.done(c.key)]
    result = SweepResult(total=len(configs), skipped=[c.key for c in configs if c not in todo])
    if on_skip:
        on_skip(todo)
    if not todo:
        return result
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()

    def handle(ev: Event) -> None:
        if ev.kind == "done":
            _store_result(store, ev.result)
            result.done.append(ev.key)
        elif ev.kind == "error":
            result.failed[ev.key] = ev.text
            if ev.result and ev.result.get("trace"):
                log = out_dir / "errors" / f"{ev.key}.txt"
                log.parent.mkdir(exist_ok=True)
                log.write_text(ev.result["trace"])
        if on_event:
            on_event(ev)

    def interrupted(_sig, _frame):
        raise SweepInterrupted("sweep interrupted")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        engine.run(todo, handle)
    except (KeyboardInterrupt, SweepInterrupted):
        result.seconds = time.monotonic() - t0
        missing = len(configs) - len(result.skipped) - len(result.done)
        raise SweepInterrupted(f"sweep interrupted: {len(result.skipped) + len(result.done)} of {len(configs)} "
                               f"configurations have profiles in {out_dir}; rerun the same command to run the "
                               f"{missing} missing") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    result.seconds = time.monotonic() - t0
    return result


def _store_result(store: ProfileStore, result: dict) -> Path:
    key = result["key"]
    write_atomic(store.folder / "models" / f"{key}.wbm", result["model"], what="write the model file")
    return store.put(key, result["profile"])
