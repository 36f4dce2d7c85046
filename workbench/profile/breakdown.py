"""Where the time goes: stage metrics and cycle estimates of a session.

Two sources. On QEMU, the profile plugin (below). On Renode and real boards, firmware built with
``--breakdown`` has stage checkpoints (``firmware/runner/wb_stage.c``) and answers, after each
inference, the counter ticks of each stage and of the checkpoints themselves; those become
``cost.stage.<stage>.*`` in the target's own unit and source (``dwt-cycles``,
``renode-virtual-time``) plus ``cost.stage.checkpoints.*``, the checkpoints' own cost, which the
stages and it sum to (``checkpoint_metrics``).

A QEMU target with the ``cm4_profile`` plugin reports, for every inference it counted, the exact
instructions of each stage (lower, upper, head, io, other; each level split into mac and act) and a
Cortex-M4 cycle estimate (``workbench.targets.cm4_profile``). This module pairs those reports with
the session's windows (one full window, then its streamed bricks, in the order ``run_session`` sends
them; each pairing is checked against the window's own cost) and turns them into metrics:

- ``cost.stage.<stage>.median|min|max`` and ``cost.stage.<level>.<part>.median`` (instructions,
  ``qemu-plugin-instructions``) for full windows; the stages of every window sum to its
  ``cost`` exactly (checked), and the records keep them per window (``windows[i]["stages"]``);
- ``cost.stream_stage.<stage>.median`` for the streamed new window;
- ``cycles_est.full_window|stream_window.median|min|max`` and ``cycles_est.stage.<stage>.median``
  (cycles, ``estimate-cm4-trm``), ``latency_ms_est.full_window|stream_window.median|min|max`` (ms at
  the board file's clock, same source).
"""

from __future__ import annotations

import numpy as np

from workbench.errors import DeviceError
from workbench.profile import metric
from workbench.targets.stages import LEVELS, PARTS, STAGES

INSN_SOURCE = "qemu-plugin-instructions"
EST_SOURCE = "estimate-cm4-trm"


def _spread(values, unit: str, source: str, prefix: str, stats=("median", "min", "max")) -> dict:
    v = np.asarray(values, dtype=float)
    fn = {"median": np.median, "min": np.min, "max": np.max}
    out = {}
    for s in stats:
        x = float(fn[s](v))
        out[f"{prefix}.{s}"] = metric(int(x) if x.is_integer() and s != "median" else x, unit, source)
    return out


def pair_windows(session, reports: list, exact: bool = True) -> list[tuple[object, object | None]]:
    """(full-window report, last streamed brick's report or None) per session window; ``exact``: the
    reports count the same instructions as the window's cost (checked)."""
    hello = session.hello
    bricks = hello.window // hello.k if hello.k else 0
    out, i = [], 0
    for w in session.windows:
        if i >= len(reports):
            raise DeviceError(f"the profile plugin reported {len(reports)} inferences, fewer than the session ran")
        full = reports[i]
        i += 1
        if exact and full.insns != w.cost:
            raise DeviceError(f"window {w.index}: profile plugin count {full.insns} is not the window's cost {w.cost}")
        stream = None
        if w.stream_cost is not None:
            stream = reports[i + bricks - 1]
            i += bricks
            if exact and stream.insns != w.stream_cost:
                raise DeviceError(f"window {w.index}: streamed count {stream.insns} is not the window's stream cost "
                                  f"{w.stream_cost}")
        out.append((full, stream))
    return out


def breakdown_metrics(session, reports: list, clock_hz: int | None,
                      insn_source: str | None = INSN_SOURCE) -> tuple[dict, list[dict]]:
    """Metrics and per-window records from the profile reports (``WindowProfile``); the cycle
    estimates only with ``clock_hz`` (a Cortex-M4 board); the instruction counts of the stages only
    with ``insn_source`` (reports that count exactly what the window's cost counts)."""
    pairs = pair_windows(session, reports, exact=insn_source is not None)
    if not pairs:
        return {}, []
    fulls = [f for f, _ in pairs]
    streams = [s for _, s in pairs if s is not None]
    m: dict = {}
    for stage in STAGES if insn_source else ():
        m.update(_spread([f.stage_insns()[stage] for f in fulls], "instructions", insn_source, f"cost.stage.{stage}"))
    for level in LEVELS if insn_source else ():
        for part in PARTS:
            m.update(_spread([f.parts[level][part][0] for f in fulls], "instructions", insn_source,
                             f"cost.stage.{level}.{part}", ("median",)))
    for stage in STAGES if streams and insn_source else ():
        m.update(_spread([s.stage_insns()[stage] for s in streams], "instructions", insn_source,
                         f"cost.stream_stage.{stage}", ("median",)))
    records = []
    for full, stream in pairs:
        rec = full.as_record()
        if stream is not None:
            rec["stream_stages"] = stream.stage_insns()
            rec["stream_cycles_est"] = stream.cycles
        if clock_hz is None:
            rec = {k: v for k, v in rec.items() if k in ("stages", "stage_parts", "stream_stages")}
        if insn_source is None:
            rec = {k: v for k, v in rec.items() if k not in ("stages", "stage_parts", "stream_stages")}
        records.append(rec)
    if clock_hz is None:
        return m, records
    for what, reps in (("full_window", fulls), ("stream_window", streams)):
        if not reps:
            continue
        cycles = [r.cycles for r in reps]
        m.update(_spread(cycles, "cycles", EST_SOURCE, f"cycles_est.{what}"))
        m.update(_spread([c / clock_hz * 1e3 for c in cycles], "ms", EST_SOURCE, f"latency_ms_est.{what}"))
    for stage in STAGES:
        m.update(_spread([f.stage_cycles()[stage] for f in fulls], "cycles", EST_SOURCE, f"cycles_est.stage.{stage}",
                         ("median",)))
    return m, records


CHECKPOINT_STAGES = (*STAGES, "checkpoints")


def checkpoint_metrics(session, target) -> tuple[dict, list[dict], dict]:
    """Stage metrics from the checkpoints' answers (``WindowResult.stages``), per-window records and
    what the profile's extra records about them."""
    unit, source = target.measure.unit, target.measure.source
    full, stream = [], []
    for w in session.windows:
        if w.stages is None:
            return {}, [], {}
        full.append(dict(zip(CHECKPOINT_STAGES, target.stage_costs(w.stages))))
        if w.stream_stages is not None:
            stream.append(dict(zip(CHECKPOINT_STAGES, target.stage_costs(w.stream_stages))))
    m: dict = {}
    for stage in CHECKPOINT_STAGES:
        m.update(_spread([f[stage] for f in full], unit, source, f"cost.stage.{stage}"))
        if stream:
            m.update(_spread([s[stage] for s in stream], unit, source, f"cost.stream_stage.{stage}", ("median",)))
    records = []
    streamed = iter(stream)
    for i, w in enumerate(session.windows):
        rec = {"stages": full[i]}
        if w.stream_stages is not None:
            rec["stream_stages"] = next(streamed)
        if abs(sum(full[i].values()) - w.cost) > 1.0 + 1e-9 * w.cost:   # icount rounds each cost to an integer
            raise DeviceError(f"window {w.index}: the checkpoints' stages sum to {sum(full[i].values())}, the window "
                              f"cost {w.cost}")
        records.append(rec)
    share = float(np.median([f["checkpoints"] / max(1, sum(f.values())) for f in full]))
    extra = {"checkpoints": {"mechanism": "kernel built with -finstrument-functions; runner/wb_stage.c reads the "
                                          "counter on entry and exit of every kernel function",
                             "source": source, "own_cost_share_median": share,
                             "note": "cost.stage.checkpoints is the checkpoints' own time, measured between their "
                                     "two counter readings; the call sequences into them are in the stages"}}
    return m, records, extra


def add_breakdown(metrics: dict, windows: list[dict], session, target, board) -> dict:
    """Add the stage and cycle-estimate metrics of ``target`` (a QEMU target that ran the profile
    plugin; anything else adds nothing) to ``metrics`` and the per-window ``windows`` records; returns
    what the profile's ``extra`` records about the cycle model."""
    reports = target.profile_reports()
    extra: dict = {}
    if not (reports and target.report_source):
        # No exact stage counts from the emulator: the firmware's own checkpoints, if it has them.
        m, records, extra = checkpoint_metrics(session, target)
        metrics.update(m)
        for w, rec in zip(windows, records):
            w.update(rec)
    model = target.cycle_model
    if not reports or (model is None and not target.report_source):
        return extra
    m, records = breakdown_metrics(session, reports, board.clock_hz if model else None, target.report_source)
    metrics.update(m)
    for w, rec in zip(windows, records):
        w.update(rec)
    if model is None:
        return extra
    taken = float(np.median([r["taken_branches"] for r in records]))
    divides = float(np.median([r["divides"] for r in records]))
    return {**extra, "cycle_model": {**model, "taken_branches_full_window_median": taken,
                            "divides_full_window_median": divides,
                            "spread": "P is 1..3 in the TRM (the model takes "
                                      f"{model['branch_refill_P']}): ±1 cycle per taken branch; SDIV/UDIV 2..12 "
                                      f"(the model takes {model['divide_cycles']})"}}
