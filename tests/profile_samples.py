"""Schema-valid profiles made in memory, for tests that need profiles but not an emulator run."""

from __future__ import annotations

import copy

from workbench.profile import metric, new_profile


def sample_profile(*, family="sharnn", cells=("gru", "gru"), hidden=(16, 16), k=10, T=100, board="mps2-an386",
                   full=1_229_906, stream=247_220, accuracy=0.975, unit="instructions",
                   source="qemu-plugin-instructions", quantization="f32", classes=4, sha="ab" * 32) -> dict:
    conf = [[0] * classes for _ in range(classes)]
    per = 10
    for i in range(classes):
        conf[i][i] = per
    wrong = round((1 - accuracy) * per * classes)
    for j in range(wrong):
        conf[j % classes][j % classes] -= 1
        conf[j % classes][(j + 1) % classes] += 1
    m = {
        "accuracy.device": metric(accuracy, "fraction", "device-output"),
        "accuracy.host": metric(accuracy, "fraction", "host-output"),
        "agreement.device_host": metric(1.0, "fraction bit-equal", "device-output"),
        "accuracy.torch": metric(accuracy, "fraction", "torch-output"),
        "agreement.device_torch_class": metric(1.0, "fraction same class", "device-output"),
        "confusion.device": metric(conf, "windows [true][predicted]", "device-output"),
        "cost.full_window.median": metric(float(full), unit, source),
        "cost.full_window.min": metric(int(full * 0.999), unit, source),
        "cost.full_window.max": metric(int(full * 1.001), unit, source),
        "ram.stack_peak": metric(344, "bytes", "stack-paint"),
        "ram.data": metric(4, "bytes", "static-elf"),
        "ram.bss": metric(4712, "bytes", "static-elf"),
        "ram.model_state": metric(1176, "bytes", "static-elf"),
        "flash.code": metric(5553, "bytes", "static-elf"),
        "flash.weights": metric(11456, "bytes", "static-elf"),
        "time.wall_per_window": metric(0.49, "s", "host-wallclock"),
    }
    if stream is not None and k is not None:
        m["cost.stream_window.median"] = metric(float(stream), unit, source)
        m["agreement.stream_full"] = metric(1.0, "fraction bit-equal", "device-output")
    return new_profile(
        board=board, target={"kind": "qemu", "machine": board}, backend="baremetal",
        model={"family": family, "cells": list(cells), "hidden": list(hidden), "k": k, "T": T, "input_dim": 6,
               "num_classes": classes, "quantization": quantization, "parameters": 2852, "sha256": sha},
        dataset={"name": "BasicMotions", "split": "test", "count": per * classes,
                 "class_names": ["Standing", "Running", "Walking", "Badminton"][:classes]},
        metrics=m, windows=[], tool_versions={"qemu": "7.2.22"})


def scaled(profile: dict, factor: float, prefix: str = "cost.") -> dict:
    """A copy whose metrics under ``prefix`` are multiplied by ``factor`` (integers stay integers)."""
    p = copy.deepcopy(profile)
    for name, m in p["metrics"].items():
        if name.startswith(prefix) and isinstance(m["value"], (int, float)):
            v = m["value"] * factor
            m["value"] = round(v) if isinstance(m["value"], int) else v
    return p


def with_breakdown(profile: dict, shares=(0.80, 0.15, 0.01, 0.01), cycles_per_insn: float = 1.5,
                   clock_hz: int = 25_000_000) -> dict:
    """A copy with the stage and cycle-estimate metrics a QEMU run with the profile plugin records: the
    full window split into lower/upper/head/io by ``shares`` (other takes the rest, so the stages sum to
    the total exactly), each level half mac, half act; cycles_est = cycles_per_insn x instructions."""
    from workbench.targets.stages import LEVELS, STAGES

    p = copy.deepcopy(profile)
    m = p["metrics"]
    total = int(m["cost.full_window.median"]["value"])
    unit, source = m["cost.full_window.median"]["unit"], m["cost.full_window.median"]["source"]
    parts = [int(total * f) for f in shares]
    parts.append(total - sum(parts))
    for stage, n in zip(STAGES, parts):
        m[f"cost.stage.{stage}.median"] = metric(n, unit, source)
        m[f"cycles_est.stage.{stage}.median"] = metric(round(n * cycles_per_insn), "cycles", "estimate-cm4-trm")
        if stage in LEVELS:
            m[f"cost.stage.{stage}.mac.median"] = metric(n // 2, unit, source)
            m[f"cost.stage.{stage}.act.median"] = metric(n - n // 2, unit, source)
    for what in ("full_window", "stream_window"):
        cost = m.get(f"cost.{what}.median")
        if cost is not None:
            cycles = cost["value"] * cycles_per_insn
            m[f"cycles_est.{what}.median"] = metric(cycles, "cycles", "estimate-cm4-trm")
            m[f"latency_ms_est.{what}.median"] = metric(cycles / clock_hz * 1e3, "ms", "estimate-cm4-trm")
    return p
