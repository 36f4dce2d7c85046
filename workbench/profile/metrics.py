"""Metrics of a device session against the host C kernel and torch, per the profile contract."""

from __future__ import annotations

import numpy as np

from workbench.build import MemoryReport
from workbench.link.session import SessionResult
from workbench.profile import metric
from workbench.targets import Measure


def _spread(values: list[int], unit: str, source: str, prefix: str) -> dict:
    if not values:
        return {}
    v = np.asarray(values)
    return {f"{prefix}.median": metric(float(np.median(v)), unit, source),
            f"{prefix}.min": metric(int(v.min()), unit, source),
            f"{prefix}.max": metric(int(v.max()), unit, source)}


def finite_or_null(values: np.ndarray) -> list:
    """Logits for the profile: strict JSON has no inf or NaN, so those become null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)] \
        if np.asarray(values).dtype.kind == "f" else np.asarray(values).tolist()


def bit_equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _bit_equal_fraction(device: list, other) -> float:
    return float(np.mean([d is not None and o is not None and bit_equal(d, o) for d, o in zip(device, other)]))


def session_metrics(session: SessionResult, labels: np.ndarray, host_logits: np.ndarray,
                    torch_logits: np.ndarray | None, measure: Measure, memory: MemoryReport | None,
                    num_classes: int, reference_logits: np.ndarray | None = None) -> tuple[dict, list[dict]]:
    """``reference_logits``: the numpy integer reference (int plans), a third bit-exact check."""
    dev = np.stack([w.logits for w in session.windows])
    # A window whose device logits are not finite has no class (-1): scored wrong, never as the argmax.
    scored = np.isfinite(dev.astype(np.float64)).all(axis=1)
    dev_cls = np.where(scored, dev.argmax(axis=1), -1)
    host_cls = host_logits.argmax(axis=1)
    m: dict = {}
    m["accuracy.device"] = metric(float((dev_cls == labels).mean()), "fraction", "device-output")
    m["accuracy.host"] = metric(float((host_cls == labels).mean()), "fraction", "host-output")
    bitexact = [bit_equal(w.logits, host_logits[i]) for i, w in enumerate(session.windows)]
    m["agreement.device_host"] = metric(float(np.mean(bitexact)), "fraction bit-equal", "device-output")
    if reference_logits is not None:
        m["accuracy.reference"] = metric(float((reference_logits.argmax(axis=1) == labels).mean()), "fraction",
                                         "reference-output")
        m["agreement.device_reference"] = metric(_bit_equal_fraction(list(dev), reference_logits),
                                                 "fraction bit-equal", "device-output")
        m["agreement.host_reference"] = metric(_bit_equal_fraction(list(host_logits), reference_logits),
                                               "fraction bit-equal", "host-output")
    if torch_logits is not None:
        torch_cls = torch_logits.argmax(axis=1)
        m["accuracy.torch"] = metric(float((torch_cls == labels).mean()), "fraction", "torch-output")
        m["agreement.device_torch_class"] = metric(float((dev_cls == torch_cls).mean()), "fraction same class",
                                                   "device-output")
        if dev.dtype.kind == "f":
            # Float kernels: how far the device's logits are from torch's float32 ones (integer logits
            # are in the plan's Q format; their agreement is with the numpy reference, bit for bit).
            m["error.device_torch_logit_max"] = metric(float(np.abs(dev.astype(np.float64) - torch_logits).max()),
                                                       "max |device - torch| over every logit", "device-output")
    conf = np.zeros((num_classes, num_classes), dtype=int)
    for t, p in zip(labels, dev_cls):
        if p >= 0:
            conf[t, p] += 1
    m["confusion.device"] = metric(conf.tolist(), "windows [true][predicted]", "device-output")
    m.update(_spread([w.cost for w in session.windows], measure.unit, measure.source, "cost.full_window"))
    streamed = [w for w in session.windows if w.stream_cost is not None]
    if streamed:
        m.update(_spread([w.stream_cost for w in streamed], measure.unit, measure.source, "cost.stream_window"))
        same = [w.stream_logits is not None and bit_equal(w.stream_logits, w.logits) for w in streamed]
        m["agreement.stream_full"] = metric(float(np.mean(same)), "fraction bit-equal", "device-output")
    stack_inf = max(max(w.stack_bytes for w in session.windows),
                    max((w.stream_stack_bytes or 0) for w in session.windows))
    if session.hello.has("stack_paint"):
        m["ram.stack_peak"] = metric(int(session.stats["stack_peak"]), "bytes", "stack-paint")
        m["ram.stack_inference"] = metric(int(stack_inf), "bytes", "stack-paint")
    if memory is not None:
        m["ram.data"] = metric(memory.ram_data, "bytes", "static-elf")
        m["ram.bss"] = metric(memory.ram_bss, "bytes", "static-elf")
        m["ram.stack_reserved"] = metric(memory.ram_stack_reserved, "bytes", "static-elf")
        m["ram.model_state"] = metric(memory.model_state, "bytes", "static-elf")
        m["flash.code"] = metric(memory.flash_code, "bytes", "static-elf")
        m["flash.weights"] = metric(memory.flash_weights, "bytes", "static-elf")
    m["time.wall_per_window"] = metric(session.wall_seconds / max(1, len(session.windows)), "s", "host-wallclock")

    windows = []
    for i, w in enumerate(session.windows):
        rec = {"index": i, "label": int(labels[i]), "device_class": int(dev_cls[i]) if scored[i] else None,
               "host_class": int(host_cls[i]), "device_host_bitexact": bool(bitexact[i]), "cost": int(w.cost),
               "stack_bytes": int(w.stack_bytes), "logits": finite_or_null(w.logits)}
        if torch_logits is not None:
            rec["torch_class"] = int(torch_logits[i].argmax())
        if w.stream_cost is not None:
            rec["stream_cost"] = int(w.stream_cost)
        windows.append(rec)
    return m, windows


def two_core_metrics(core_costs: list, stats: dict, memory: MemoryReport | None, measure: Measure,
                     windows: list[dict]) -> dict:
    """A two-core firmware (``workbench.targets.parallel``): each core's own instructions per full
    window beside the critical path (which is ``cost.full_window``), core 1's stack; each window record
    gets its two counts (``windows`` is changed in place)."""
    m: dict = {}
    for i in (0, 1):
        m.update(_spread([getattr(c, f"core{i}") for c in core_costs], measure.unit, measure.source,
                         f"cost.core{i}.full_window"))
    for rec, c in zip(windows, core_costs):
        rec["cost_cores"] = [int(c.core0), int(c.core1)]
    if "core1_stack_peak" in stats:
        m["ram.core1.stack_peak"] = metric(int(stats["core1_stack_peak"]), "bytes", "stack-paint")
    if memory is not None and memory.ram_stack_core1:
        m["ram.core1.stack_reserved"] = metric(memory.ram_stack_core1, "bytes", "static-elf")
    return m


def sliding_metrics(result, host: list, reference: np.ndarray | None, labels: np.ndarray, bricks_per_window: int,
                    measure: Measure) -> dict:
    """Metrics of a sliding session (``link.session.run_sliding``) over the windows laid end to end:
    ``host`` is the host kernel's answer to every push, ``reference`` the numpy reference's windows
    (one per push from the window-th on). Every bricks_per_window-th window is a dataset window:
    its class is scored against the label."""
    m: dict = {}
    full = [i for i, lg in enumerate(result.logits) if lg is not None]
    if not full:
        return m
    m.update(_spread([result.costs[i] for i in full], measure.unit, measure.source, "cost.sliding_window"))
    m["agreement.sliding_device_host"] = metric(_bit_equal_fraction([result.logits[i] for i in full],
                                                                    [host[i] for i in full]),
                                                "fraction bit-equal", "device-output")
    if reference is not None:
        m["agreement.sliding_device_reference"] = metric(
            _bit_equal_fraction([result.logits[i] for i in full], list(reference)), "fraction bit-equal",
            "device-output")
    aligned = [i for i in full if (i + 1) % bricks_per_window == 0]
    hits = [int(result.logits[i].argmax()) == int(labels[(i + 1) // bricks_per_window - 1]) for i in aligned]
    m["accuracy.sliding_aligned"] = metric(float(np.mean(hits)), "fraction", "device-output")
    m["count.sliding_windows"] = metric(len(full), "windows", "device-output")
    m["ram.stack_sliding"] = metric(int(max(result.stack_bytes)), "bytes", "stack-paint")
    return m
