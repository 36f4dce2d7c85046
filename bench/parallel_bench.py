"""Two-core benchmark: ShaRNN's k-wise parallelism on mps2-an521 (two Cortex-M33) under QEMU.

    python bench/parallel_bench.py [--windows 10] [--sweep-quant q15] [--profiles DIR] [--json out.json]

Prints, all counted by our QEMU TCG plugin per vCPU (source ``qemu-plugin-instructions``;
instructions, not cycles); a two-core figure is the critical path of the two cores' counts under the
model of docs/parallel.md (equal clocks, no bus contention, free hand-over), which bounds the real
speed-up from above:
1. the keyword-spotting shape (T=99, 32 features, 12 classes; ShaRNN LSTM 32/16, k=11: nine bricks)
   with seeded random weights calibrated on the keyword training windows (as kernel_bench), full
   window on one and on two cores, int16 and float32: speed-up, each core's count, and whether every
   window's logits are bit-equal between the device and the host C kernel and between one and two cores;
2. a k sweep over the divisors of T=99 (3, 9, 11, 33): the critical path per k beside the fitted
   c0 + c1*T/k + c2*k (two cores leave a constant: about T/2 lower-level steps run one after the other
   whatever k; the paper's c1*T/k + c2*k is the limit of T/k cores);
3. streaming on two cores (firmware/parbench): core 1 computes the brick of window n+1 while core 0
   runs the upper level of window n; throughput against one core.

``--profiles DIR`` also writes every run's profile there (``workbench dashboard DIR`` then draws the
critical path against k with the fitted curve).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.kernel_bench import KWS, model_file  # noqa: E402
from workbench.boards import load_board  # noqa: E402
from workbench.build.baremetal import build_app, gcc_version  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.export.c import export_c  # noqa: E402
from workbench.paths import build_dir  # noqa: E402
from workbench.pipeline import BuildOptions, RunSpec, quantize  # noqa: E402
from workbench.pipeline.firmware import profile_model  # noqa: E402
from workbench.profile import write_profile  # noqa: E402
from workbench.targets import qemu_plugin  # noqa: E402
from workbench.targets.parallel import fit_parallel_cost, pipelined_stream_ends  # noqa: E402
from workbench.targets.qemu import QemuTarget, qemu_version  # noqa: E402

BOARD = "mps2-an521"
KWS_K = 11
SWEEP_K = (3, 9, 11, 33)       # the divisors of T=99 between 1 and T
SHAPE = {"cells": ("lstm", "lstm"), "hidden": (32, 16)}


def keyword_model(k: int, calib: np.ndarray):
    mf, _ = model_file(None, "sharnn", SHAPE["cells"], SHAPE["hidden"], k, KWS, calib)
    mf.meta["dataset"] = "keywords"        # the int plan calibrates on the keyword training split
    return mf


def run(mf, board, data, quant: str, cores: int, profiles: Path | None) -> dict:
    """One profile of ``mf`` on ``cores`` cores (semihosting link: only the counts matter here)."""
    spec = RunSpec("(in memory)", board=board.name, stream=False, quant=quant,
                   build=BuildOptions(link="semihost", cores=cores))
    prof = profile_model(mf, board, data, spec)
    if profiles is not None:
        write_profile(prof, profiles / f"kws-lstm32-16-k{mf.config['k']}-{quant}-{cores}core.json", force=True)
    m = prof["metrics"]
    return {"cost": m["cost.full_window.median"]["value"],
            "core0": m.get("cost.core0.full_window.median", m["cost.full_window.median"])["value"],
            "core1": m.get("cost.core1.full_window.median", {"value": 0})["value"],
            "device_host": m["agreement.device_host"]["value"],
            "logits": [w["logits"] for w in prof["windows"]],
            "core0_bricks": prof["extra"]["handshake"]["core0_bricks"]}


def streaming(board, mf, quant: str) -> dict:
    """firmware/parbench on two cores: per-window counts on one core and the pipelined period."""
    qm = quantize(mf, quant)
    nb = mf.config["window"] // mf.config["k"]
    root = build_dir() / f"parbench-{mf.content_hash[:12]}-{quant}"
    info = export_c(mf, root / "export", qm)
    art = build_app(board, "parbench", root / "build", model=info, make_vars={"CORES": "2"})
    target = QemuTarget(board, art.elf, workdir=root / "qemu")
    target.run_to_exit(timeout=600)         # exit code 0: the pipelined logits equal one core's, bit for bit
    lines = qemu_plugin.read_vcpu_counts(target.counts_path)
    core0 = [c for v, c in lines if v == 0]
    bricks = [c for v, c in lines if v == 1]
    pushes, uppers = core0[:len(bricks)], core0[len(bricks):]
    ends = pipelined_stream_ends(bricks, uppers, nb)
    half = len(ends) // 2                   # steady state: the second half of the windows
    period = (ends[-1] - ends[half - 1]) / (len(ends) - half)
    one_core = statistics.median(pushes[nb - 1:])   # a push that completes a window: brick + upper level
    return {"one_core_per_window": one_core, "two_core_period": period, "throughput_ratio": one_core / period,
            "brick": statistics.median(bricks), "upper": statistics.median(uppers), "windows": len(ends),
            "bit_exact": True}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=10, help="keyword test windows per run [10]")
    ap.add_argument("--sweep-quant", default="q15", choices=["q15", "f32"], help="arithmetic of the k sweep [q15]")
    ap.add_argument("--profiles", type=Path, help="also write every run's profile into this folder")
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    board = load_board(BOARD)
    report: dict = {"board": BOARD, "qemu": qemu_version(), "gcc": gcc_version(), "source": "qemu-plugin-instructions"}
    print(f"workbench parallel benchmark: {BOARD} (two Cortex-M33) under QEMU {report['qemu']}, "
          f"arm-none-eabi-gcc {report['gcc']} -O2 -mcpu=cortex-m33")
    print("Executed instructions per vCPU (TCG plugin), not cycles. Two cores: the critical path of the two "
          "counts\n(equal clocks, no bus contention: an upper bound on the real speed-up; docs/parallel.md).\n")

    calib = load_dataset("keywords", "train").x
    data = load_dataset("keywords", "test")
    data.x, data.y, data.lengths = data.x[:args.windows], data.y[:args.windows], data.lengths[:args.windows]
    profiles = args.profiles
    runs: dict = {}

    def measured(k: int, quant: str, cores: int) -> dict:
        if (k, quant, cores) not in runs:
            runs[(k, quant, cores)] = run(models[k], board, data, quant, cores, profiles)
        return runs[(k, quant, cores)]

    models = {k: keyword_model(k, calib) for k in SWEEP_K}

    # 1. keyword shape, full window
    nb = KWS["window"] // KWS_K
    print(f"1. Keyword shape: ShaRNN LSTM 32/16, k={KWS_K} ({nb} bricks), seeded random weights; "
          f"{len(data.x)} keyword test windows")
    print(f"   {'kernel':6} {'1 core':>10} {'2 cores':>10} {'core 0':>10} {'core 1':>10} {'speed-up':>8}  "
          "bit-exact (device = host on 1 and 2 cores; 1 core = 2 cores)")
    report["kws"], report["speedup"] = {}, {}
    exact_all = True
    for quant in ("q15", "f32"):
        one, two = measured(KWS_K, quant, 1), measured(KWS_K, quant, 2)
        same = one["logits"] == two["logits"]
        exact = one["device_host"] == 1.0 and two["device_host"] == 1.0 and same
        exact_all &= exact
        speedup = one["cost"] / two["cost"]
        report["speedup"][quant] = speedup
        report["kws"][quant] = {"one_core": one["cost"], "two_cores": two["cost"], "core0": two["core0"],
                                "core1": two["core1"], "core0_bricks": two["core0_bricks"], "speedup": speedup,
                                "device_host_1core": one["device_host"], "device_host_2cores": two["device_host"],
                                "one_equals_two": same}
        print(f"   {quant:6} {one['cost']:10,.0f} {two['cost']:10,.0f} {two['core0']:10,.0f} {two['core1']:10,.0f} "
              f"{speedup:7.3f}x  {one['device_host']:.0%} / {two['device_host']:.0%}; "
              f"{'equal' if same else 'DIFFER'}")
    print(f"   split: core 0 {report['kws']['q15']['core0_bricks']} bricks + the upper level, core 1 "
          f"{nb - report['kws']['q15']['core0_bricks']} bricks")

    # 2. k sweep
    quant = args.sweep_quant
    rows = []
    for k in SWEEP_K:
        one, two = measured(k, quant, 1), measured(k, quant, 2)
        exact_all &= one["device_host"] == 1.0 and two["device_host"] == 1.0 and one["logits"] == two["logits"]
        rows.append({"k": k, "bricks": KWS["window"] // k, "core0_bricks": two["core0_bricks"],
                     "one_core": one["cost"], "critical": two["cost"], "core0": two["core0"], "core1": two["core1"]})
    fit = fit_parallel_cost(KWS["window"], [r["k"] for r in rows], [r["critical"] for r in rows])
    T = KWS["window"]
    print(f"\n2. k sweep over the divisors of T={T}, {quant}: critical path on two cores beside the fit "
          f"c0 + c1*T/k + c2*k\n   (c0 = {fit['c0']:,.0f}, c1 = {fit['c1']:,.0f}, c2 = {fit['c2']:,.0f})")
    print(f"   {'k':>3} {'T/k':>4} {'split':>5} {'1 core':>10} {'2 cores':>10} {'fit':>10} {'residual':>8} "
          f"{'speed-up':>8}")
    for r in rows:
        r["fit"] = fit["c0"] + fit["c1"] * T / r["k"] + fit["c2"] * r["k"]
        print(f"   {r['k']:3d} {r['bricks']:4d} {r['core0_bricks']:2d}/{r['bricks'] - r['core0_bricks']:<2d} "
              f"{r['one_core']:10,.0f} {r['critical']:10,.0f} {r['fit']:10,.0f} "
              f"{(r['critical'] - r['fit']) / r['critical']:+8.2%} {r['one_core'] / r['critical']:7.3f}x")
    report["sweep"] = {"quant": quant, "rows": rows, "fit": fit}

    # 3. streaming
    print(f"\n3. Streaming on two cores (k={KWS_K}): core 1 computes the brick of window n+1 while core 0 runs "
          "the upper level of window n")
    print(f"   {'kernel':6} {'brick':>9} {'upper':>9} {'1 core/window':>14} {'2 cores/window':>15} {'throughput':>10}")
    report["streaming"] = {}
    for quant in ("q15", "f32"):
        s = streaming(board, models[KWS_K], quant)
        report["streaming"][quant] = s
        print(f"   {quant:6} {s['brick']:9,.0f} {s['upper']:9,.0f} {s['one_core_per_window']:14,.0f} "
              f"{s['two_core_period']:15,.0f} {s['throughput_ratio']:9.3f}x")
    print("   (2 cores/window: steady-state period, the second half of "
          f"{report['streaming']['q15']['windows']} windows; pipelined logits equal one core's bit for bit)")
    report["bit_exact"] = bool(exact_all)
    print(f"\nbit_exact: {report['bit_exact']} (every window, device = host, one core = two cores)")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0 if exact_all else 1


if __name__ == "__main__":
    sys.exit(main())
