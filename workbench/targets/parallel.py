"""Costs of a ShaRNN window on two cores, from the per-vCPU instruction counts of the plugin.

What the firmware counts (firmware/runner/wb_parallel.h): core 1 computes bricks
[core0_bricks, T/k) and writes one count per brick; core 0 computes bricks [0, core0_bricks) with
the upper level over each (one count), then for each of core 1's bricks, in order, waits for it
(not counted) and runs the upper level's step over it (one count each; the last one holds the
classifier).

The model of parallel time: both cores run at the same clock and each instruction takes the same
time on either (no bus contention, no wait states); core 1 starts when core 0 does; handing a brick
over costs nothing. Then core 1 finishes its j-th brick at the sum of its first j+1 counts, and
core 0 starts an upper step when both it and that brick are done. The window's critical path is
when core 0 ends. Real hardware only adds to it (contention, wake-up latency), so the speed-up this
gives bounds the real one from above (docs/parallel.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from workbench.errors import DeviceError


@dataclass(frozen=True)
class CoreCosts:
    """One two-core window: instructions each core executed, and the critical path."""

    core0: int
    core1: int
    critical: int


def critical_path(core0_first: int, core0_upper: list[int], core1_bricks: list[int]) -> int:
    """End of core 0: its first segment, then each upper step after its brick from core 1."""
    t0, t1 = core0_first, 0
    for upper, brick in zip(core0_upper, core1_bricks, strict=True):
        t1 += brick
        t0 = max(t0, t1) + upper
    return t0


class TwoCoreCounts:
    """Reads the plugin's per-vCPU lines as requests are answered and groups them per request."""

    def __init__(self, bricks: int, core0_bricks: int):
        self.core1_bricks = bricks - core0_bricks
        self.pending: dict[int, deque[int]] = {0: deque(), 1: deque()}

    def add(self, lines: list[tuple[int, int]]) -> None:
        for vcpu, count in lines:
            if vcpu not in self.pending:
                raise DeviceError(f"instruction count from vCPU {vcpu}: the firmware runs on two cores")
            self.pending[vcpu].append(count)

    def next_request(self) -> CoreCosts:
        """The next answered request: a two-core window (core 1 counted its bricks) or a request core 0
        ran alone (a stream push: one count)."""
        q0, q1 = self.pending[0], self.pending[1]
        n = self.core1_bricks
        if not q1:
            if not q0:
                raise DeviceError("the plugin reported no instruction count for an answered request")
            c = q0.popleft()
            return CoreCosts(c, 0, c)
        if len(q1) < n or len(q0) < n + 1:
            raise DeviceError(f"the plugin reported {len(q0)} core-0 and {len(q1)} core-1 counts for a two-core "
                              f"window that needs {n + 1} and {n}")
        first = q0.popleft()
        upper = [q0.popleft() for _ in range(n)]
        core1 = [q1.popleft() for _ in range(n)]
        return CoreCosts(first + sum(upper), sum(core1), critical_path(first, upper, core1))


def pipelined_stream_ends(bricks: list[int], uppers: list[int], bricks_per_window: int) -> list[int]:
    """Streaming on two cores (firmware/parbench/parbench.c): core 1 computes brick m (count
    ``bricks[m]``) into a ring one brick longer than a window, so it may start brick m > T/k only
    once the window ending at brick m-2 is done; core 0 runs the upper level of the window ending at
    brick n (count ``uppers[n - T/k + 1]``) once brick n and the window before are done. Same model of
    time as ``critical_path``; returns when each window ends."""
    nb = bricks_per_window
    if len(uppers) != len(bricks) - nb + 1:
        raise ValueError(f"{len(bricks)} bricks make {len(bricks) - nb + 1} windows, not {len(uppers)}")
    brick_end: list[int] = []
    window_end: list[int] = []
    for m, cost in enumerate(bricks):
        start = brick_end[-1] if brick_end else 0
        if m > nb:
            start = max(start, window_end[m - 2 - (nb - 1)])
        brick_end.append(start + cost)
        if m >= nb - 1:
            before = window_end[-1] if window_end else 0
            window_end.append(max(before, brick_end[m]) + uppers[m - (nb - 1)])
    return window_end


def fit_parallel_cost(window: int, ks: list[int], costs: list[float]) -> dict | None:
    """Least-squares c0 + c1*T/k + c2*k through (k, cost) points (three distinct k at least, else None).
    The paper's cost with T/k cores is c1*T/k + c2*k (the upper level's T/k steps, one brick of k
    steps); with two cores about half the lower level's T steps stay on each core whatever k: c0."""
    if len(set(ks)) < 3:
        return None
    k = np.asarray(ks, dtype=float)
    a = np.stack([np.ones_like(k), window / k, k], axis=1)
    (c0, c1, c2), *_ = np.linalg.lstsq(a, np.asarray(costs, dtype=float), rcond=None)
    return {"c0": float(c0), "c1": float(c1), "c2": float(c2)}
