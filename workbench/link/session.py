"""A measurement session: every window of a dataset through a device, full and streamed.

For each window the session sends the inputs in acknowledged chunks and asks for a full-window
inference; with ``stream=True`` it then empties the device's brick ring and pushes the same window,
already on the device, brick by brick, so the last push is the cost of one streamed new window (one
brick + the upper level) and its logits must equal the full window's. Host-to-device bytes bound the
speed of an emulated link, so nothing is sent twice.

Exactly once: the device's own counters (STATS before and after) must show one full inference per
window and one push per brick, whatever the link did; otherwise the session fails.

``run_sliding`` is the deployment pattern: one long stream (e.g. the test windows end to end) sent
brick by brick, each brick uploaded and pushed at once; from the (T/k)-th push on, every answer is
the window ending at the newest brick (windows slide by k). The same exactly-once check holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import DeviceError
from workbench.link.client import DeviceLink
from workbench.link.protocol import NUMPY_DTYPES, Hello


@dataclass
class WindowResult:
    index: int
    logits: np.ndarray
    cost: int
    stack_bytes: int
    stream_logits: np.ndarray | None = None
    stream_cost: int | None = None
    stream_stack_bytes: int | None = None
    stages: list[int] | None = None          # counter ticks per stage (firmware with --breakdown)
    stream_stages: list[int] | None = None


@dataclass
class SessionResult:
    hello: Hello
    windows: list[WindowResult]
    stats: dict[str, int]
    link: dict
    wall_seconds: float
    extra: dict = field(default_factory=dict)


def _dtypes(hello: Hello) -> tuple[np.dtype, np.dtype]:
    return np.dtype(NUMPY_DTYPES[hello.input_dtype]), np.dtype(NUMPY_DTYPES[hello.output_dtype])


def run_session(link: DeviceLink, costs, inputs: np.ndarray, *, stream: bool = True, progress=None,
                hello: Hello | None = None) -> SessionResult:
    """``inputs[N, T, D]`` already in the device's input dtype; ``costs(ticks_list)`` converts the
    counter readings of the requests just answered (the target's ``costs``)."""
    hello = hello or link.hello()
    in_dtype, out_dtype = _dtypes(hello)
    stream = stream and hello.has("stream")
    task = progress.add_task("windows", total=len(inputs)) if progress is not None else None
    before = link.stats()
    t0 = time.monotonic()
    results = []
    for i, x in enumerate(inputs):
        ctx = f"window {i}"
        raw = np.ascontiguousarray(x, dtype=in_dtype).tobytes()
        r = link.infer(raw, context=ctx)
        _check_logits(r.logits, hello, out_dtype, ctx)
        (cost,) = costs([r.ticks])
        w = WindowResult(i, np.frombuffer(r.logits, dtype=out_dtype).copy(), cost, r.stack_bytes)
        if hello.has("stages"):
            w.stages = link.stages(context=ctx)
        if stream:
            link.reset_stream(context=ctx)
            step = hello.k * hello.input_dim * in_dtype.itemsize
            for b in range(0, len(raw), step):
                s = link.stream_staged(b, context=f"{ctx}, brick {b // step}")
                _check_logits(s.logits, hello, out_dtype, f"{ctx}, brick {b // step}")
                (s_cost,) = costs([s.ticks])
            w.stream_logits = np.frombuffer(s.logits, dtype=out_dtype).copy() if s.valid else None
            w.stream_cost, w.stream_stack_bytes = s_cost, s.stack_bytes
            if hello.has("stages"):
                w.stream_stages = link.stages(context=f"{ctx}, last brick")
        results.append(w)
        if task is not None:
            progress.update(task, advance=1)
    wall = time.monotonic() - t0
    stats = link.stats()
    check_exactly_once(before, stats, len(inputs), len(inputs) * (hello.window // hello.k) if stream else 0)
    return SessionResult(hello, results, stats, vars(link.counters).copy(), wall)


def _check_logits(logits: bytes, hello: Hello, dtype: np.dtype, ctx: str) -> None:
    if len(logits) != hello.num_classes * dtype.itemsize:
        raise DeviceError(f"device answered {ctx} with {len(logits)} bytes of logits; {hello.num_classes} "
                          f"classes of {dtype.itemsize} bytes expected")


def check_exactly_once(before: dict[str, int], after: dict[str, int], infers: int, streams: int) -> None:
    """The device computed each request once: its counters moved by exactly what was asked."""
    got = {k: after[k] - before[k] for k in ("infers", "streams")}
    if got != {"infers": infers, "streams": streams}:
        raise DeviceError(f"device counted {got['infers']} inferences and {got['streams']} stream pushes for "
                          f"{infers} and {streams} requested: a request was lost or computed twice")


@dataclass
class SlidingResult:
    """One answer per pushed brick: logits (None until the window is full), cost, stack bytes."""

    logits: list[np.ndarray | None]
    costs: list[int]
    stack_bytes: list[int]
    wall_seconds: float


def run_sliding(link: DeviceLink, costs, stream: np.ndarray, *, progress=None, hello: Hello | None = None
                ) -> SlidingResult:
    """Push ``stream[L, D]`` (device dtype, L a multiple of k) brick by brick from an empty ring."""
    hello = hello or link.hello()
    in_dtype, out_dtype = _dtypes(hello)
    k = hello.k
    if len(stream) % k:
        raise ValueError(f"a sliding stream must be a multiple of k={k} steps")
    n = len(stream) // k
    task = progress.add_task("sliding bricks", total=n) if progress is not None else None
    before = link.stats()
    t0 = time.monotonic()
    link.reset_stream(context="sliding stream")
    logits, cost_list, stacks = [], [], []
    for b in range(n):
        ctx = f"sliding brick {b}"
        r = link.stream(np.ascontiguousarray(stream[b * k:(b + 1) * k], dtype=in_dtype).tobytes(), context=ctx)
        _check_logits(r.logits, hello, out_dtype, ctx)
        (c,) = costs([r.ticks])
        logits.append(np.frombuffer(r.logits, dtype=out_dtype).copy() if r.valid else None)
        cost_list.append(c)
        stacks.append(r.stack_bytes)
        if task is not None:
            progress.update(task, advance=1)
    wall = time.monotonic() - t0
    check_exactly_once(before, link.stats(), 0, n)
    return SlidingResult(logits, cost_list, stacks, wall)
