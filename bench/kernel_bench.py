"""Kernel benchmark: exact instruction counts of the int16 kernels on mps2-an386 under QEMU.

    python bench/kernel_bench.py [--kws-model M.wbm] [--kws-baseline M.wbm] [--basicmotions-model M.wbm]
                                 [--windows 5] [--json out.json]

Prints, all counted by our QEMU TCG plugin between the runner's markers (source
``qemu-plugin-instructions``; instructions, not cycles):
1. instructions per MAC of the recurrent matrix-vector cores on the shapes of the benchmark's
   models: int16 (``sharnn_q15_matvec``, SMLAD path and portable C, with a cycle *estimate* for the
   SMLAD inner loop from the Cortex-M4 TRM timings) and float32 (``sharnn_f32_matvec``, VLDM/VFMA
   path and portable C; JSON ``core_f32``);
2. the keyword-spotting shape (T=99, 32 features, 12 classes; LSTM, hidden 32/16, k=11: nine bricks):
   instructions per full window and per streamed new window, against a single-level LSTM of hidden
   32 (which recomputes the whole window for every new window), as a ratio measured in this run;
   working RAM (static model state from the ELF + peak stack of an inference by stack painting);
3. the same for the BasicMotions model;
4. the float32 kernels on the same models.

Without model files the benchmark builds the shapes with seeded random weights (torch's default
initialisation) and calibrates them on the dataset's training windows (or on normal noise when the
dataset is not available): instruction counts depend on the shapes, barely on the weights. The
inputs are the first --windows test windows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.boards import load_board  # noqa: E402
from workbench.build.baremetal import build_app, gcc_version  # noqa: E402
from workbench.models import modelfile  # noqa: E402
from workbench.paths import build_dir  # noqa: E402
from workbench.pipeline import device_inputs, export_and_build, run_on_qemu  # noqa: E402
from workbench.targets.qemu import QemuTarget, qemu_version  # noqa: E402

BOARD = "mps2-an386"
# (rows, rows per block, columns) in the order firmware/bench/kernel_bench.c runs them.
CORE_CASES = [(128, 4, 32, "LSTM H=32: W_ih, W_hh"), (64, 4, 32, "LSTM H=16: W_ih (32 in)"),
              (64, 4, 16, "LSTM H=16: W_hh"), (96, 3, 32, "GRU H=32: W_ih, W_hh"), (48, 3, 16, "GRU H=16: W_hh")]
# Then, SMLAD build only: the same 4-row products with int8 weights (an experiment in the bench firmware).
Q7_CASES = [(128, 32, "LSTM H=32, int8 weights"), (64, 16, "LSTM H=16 W_hh, int8 weights")]
# Then the float core, sharnn_f32_matvec (rows, columns), in both builds: VLDM/VFMA assembly, and the
# portable C loop (-DSHARNN_PORTABLE: the same chains through __builtin_fmaf).
CORE_F32_CASES = [(128, 32, "LSTM H=32: W_x, W_h"), (64, 32, "LSTM H=16: W_x (32 in)"), (64, 16, "LSTM H=16: W_h"),
                  (96, 32, "GRU H=32: W_x, W_h"), (48, 16, "GRU H=16: W_x (16 in), W_h"),
                  (48, 6, "GRU H=16: W_x (6 in, BasicMotions)"), (128, 64, "minGRU H=64: 2nd layer"),
                  (64, 64, "minGRU H=32: W_x (64 in)")]
F32_LIMIT = 1.5          # instructions per MAC the float core must stay under (issue 16)
# Cortex-M4 TRM (ARM DDI 0439) instruction timings, zero-wait-state memory: LDRD 3 cycles, LDM of
# n words 1+n, SMLAD 1, SUBS 1, taken branch 1+P with P in 1..3 (we take 2).
LOOP_CYCLES = {4: 2 * 3 + 4 * 5 + 16 + 1 + 3, 3: 2 * 3 + 4 * 4 + 12 + 1 + 3}
LOOP_MACS = {4: 32, 3: 24}
KWS = {"window": 99, "input_dim": 32, "num_classes": 12}


class Dataset:
    """Just what the pipeline needs of a dataset: windows and a name."""

    def __init__(self, name, x):
        self.name, self.x = name, x
        self.window_length, self.num_channels = x.shape[1], x.shape[2]


def load_windows(name: str, window: int, dim: int, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(calibration windows, test windows, what they are)."""
    try:
        from workbench.data import load_dataset

        tr, te = load_dataset(name, "train"), load_dataset(name, "test")
        if tr.x.shape[1:] == (window, dim):
            return tr.x, te.x[:n], f"{name} test windows"
    except Exception:  # noqa: BLE001 - a dataset that is not there: fall back to noise
        pass
    rng = np.random.default_rng(0)
    return (rng.normal(size=(64, window, dim)).astype(np.float32), rng.normal(size=(n, window, dim)).astype(np.float32),
            "normal noise (dataset not available)")


def random_model(family, cells, hidden, k, window, input_dim, num_classes, seed=0):
    import torch

    from workbench.models import build_model
    from workbench.models.train import set_normalization

    torch.manual_seed(seed)
    cfg = {"family": family, "cells": list(cells), "hidden": list(hidden), "window": window, "input_dim": input_dim,
           "num_classes": num_classes}
    if family == "sharnn":
        cfg["k"] = k
    return build_model(cfg), set_normalization


def model_file(path: str | None, family, cells, hidden, k, shape, calib) -> tuple[modelfile.ModelFile, str]:
    if path:
        return modelfile.load(path), f"trained ({path})"
    import torch

    model, set_norm = random_model(family, cells, hidden, k, **shape)
    with torch.no_grad():
        set_norm(model, calib)
    return modelfile.from_module(model.eval(), {}), "seeded random weights"


def measure(board, mf, calib, x, quant, stream=True):
    built = export_and_build(mf, board, quant=quant, calib_x=calib)
    inputs = device_inputs(built, Dataset("bench", x))
    session, _, _ = run_on_qemu(board, built, inputs, stream=stream)
    full = [w.cost for w in session.windows]
    new = [w.stream_cost for w in session.windows] if stream else full
    stack = max(max(w.stack_bytes for w in session.windows), max((w.stream_stack_bytes or 0) for w in session.windows))
    return {"full_window": statistics.median(full), "new_window": statistics.median(new), "stack": stack,
            "state": built.artifact.memory.model_state, "weights": built.artifact.memory.flash_weights,
            "macs": mf.build().macs(), "dsp": session.hello.has("dsp")}


def core_counts(board) -> dict:
    out = {}
    for path, flags in (("dsp", ""), ("portable", "-DSHARNN_PORTABLE")):
        art = build_app(board, "bench", build_dir() / f"bench-core-{path}", extra_cflags=flags)
        out[path] = QemuTarget(board, art.elf).run_to_exit()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kws-model", help="trained ShaRNN LSTM 32/16 k=11 for the keyword shape")
    ap.add_argument("--kws-baseline", help="trained single-level LSTM 32 for the keyword shape")
    ap.add_argument("--basicmotions-model", help="trained BasicMotions model [the demo model if built, else random]")
    ap.add_argument("--windows", type=int, default=5, help="test windows per model (median reported) [5]")
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    board = load_board(BOARD)
    report: dict = {"board": BOARD, "qemu": qemu_version(), "gcc": gcc_version(), "source": "qemu-plugin-instructions"}
    print(f"workbench kernel benchmark: {BOARD} under QEMU {report['qemu']} (TCG plugin: exact instruction counts), "
          f"arm-none-eabi-gcc {report['gcc']} -O2 -mcpu=cortex-m4")
    print("All figures are executed instructions, not cycles (an LDM of n words is 1 instruction, 1+n cycles).\n")

    # 1. matvec core
    counts = core_counts(board)
    print("1. Recurrent matvec core, sharnn_q15_matvec (int16 weights x int16 vector -> int32), whole call")
    print(f"   {'shape (rows x cols)':38} {'MACs':>6} {'SMLAD path':>11} {'per MAC':>8} "
          f"{'portable C':>11} {'per MAC':>8}")
    core = []
    for (rows, _r, cols, what), d, p in zip(CORE_CASES, counts["dsp"], counts["portable"]):
        macs = rows * cols
        core.append({"shape": what, "rows": rows, "cols": cols, "macs": macs, "dsp": d, "portable": p})
        print(f"   {what + f' ({rows}x{cols})':38} {macs:6d} {d:11d} {d / macs:8.3f} {p:11d} {p / macs:8.3f}")
    for (rows, cols, what), d in zip(Q7_CASES, counts["dsp"][len(CORE_CASES):]):
        macs = rows * cols
        core.append({"shape": what, "rows": rows, "cols": cols, "macs": macs, "dsp": d})
        print(f"   {what + f' ({rows}x{cols})':38} {macs:6d} {d:11d} {d / macs:8.3f}   (no SMLAD on bytes: "
              "2 SXTB16 per 4 weights)")
    kws_core = core[:3]
    lower = 2 * kws_core[0]["dsp"], 2 * kws_core[0]["macs"]
    upper = kws_core[1]["dsp"] + kws_core[2]["dsp"], kws_core[1]["macs"] + kws_core[2]["macs"]
    print(f"   keyword ShaRNN cells, both matrices: lower {lower[0] / lower[1]:.3f}, upper {upper[0] / upper[1]:.3f} "
          "instructions per MAC")
    for r in (4, 3):
        print(f"   estimate (Cortex-M4 TRM timings, zero wait states): SMLAD inner loop, {r}-row blocks: "
              f"{LOOP_CYCLES[r]} cycles per {LOOP_MACS[r]} MACs = {LOOP_CYCLES[r] / LOOP_MACS[r]:.2f} cycles/MAC "
              f"({(LOOP_CYCLES[r] - 2) / LOOP_MACS[r]:.2f}-{(LOOP_CYCLES[r] + 1) / LOOP_MACS[r]:.2f} "
              "for a taken-branch refill of 1-3)")
    report["core"] = core
    n_dsp = len(CORE_CASES) + len(Q7_CASES)
    f32_dsp, f32_portable = counts["dsp"][n_dsp:], counts["portable"][len(CORE_CASES):]
    print("\n   Float core, sharnn_f32_matvec (float32 weights x float32 vector, fused multiply-adds), whole call")
    print(f"   {'shape (rows x cols)':38} {'MACs':>6} {'VFMA path':>11} {'per MAC':>8} {'portable C':>11} "
          f"{'per MAC':>8}")
    core_f32 = []
    for (rows, cols, what), d, p in zip(CORE_F32_CASES, f32_dsp, f32_portable):
        macs = rows * cols
        core_f32.append({"shape": f"{what} ({rows}x{cols})", "rows": rows, "cols": cols, "macs": macs,
                         "instructions": d, "portable": p})
        print(f"   {what + f' ({rows}x{cols})':38} {macs:6d} {d:11d} {d / macs:8.3f} {p:11d} {p / macs:8.3f}")
    worst = max(r["instructions"] / r["macs"] for r in core_f32)
    print(f"   float core, worst shape: {worst:.3f} instructions per MAC "
          f"({'within' if worst <= F32_LIMIT else 'ABOVE'} the {F32_LIMIT} limit)")
    report["core_f32"] = core_f32

    # 2. keyword-spotting shape
    calib, x, what = load_windows("keywords", KWS["window"], KWS["input_dim"], args.windows)
    sharnn_mf, src1 = model_file(args.kws_model, "sharnn", ("lstm", "lstm"), (32, 16), 11, KWS, calib)
    base_mf, src2 = model_file(args.kws_baseline, "rnn", ("lstm",), (32,), None, KWS, calib)
    print(f"\n2. Keyword-spotting shape: T=99 x 32 features, 12 classes; inputs: {args.windows} {what}")
    print(f"   ShaRNN LSTM 32/16 k=11 ({src1}); single-level LSTM 32 ({src2})")
    rows = {}
    for name, mf, stream in (("ShaRNN LSTM 32/16, k=11", sharnn_mf, True), ("LSTM 32, single level", base_mf, False)):
        for quant in ("q15", "f32"):
            rows[(name, quant)] = measure(board, mf, calib, x[: (args.windows if quant == "q15" else 2)], quant, stream)
    print(f"   {'model':26} {'kernel':6} {'full window':>12} {'new window':>11} {'MACs/new':>9} {'instr/MAC':>9}")
    for (name, quant), r in rows.items():
        print(f"   {name:26} {quant:6} {r['full_window']:12,.0f} {r['new_window']:11,.0f} "
              f"{r['macs']['stream_window']:9,d} {r['new_window'] / r['macs']['stream_window']:9.2f}")
    s, b = rows[("ShaRNN LSTM 32/16, k=11", "q15")], rows[("LSTM 32, single level", "q15")]
    ratio = b["new_window"] / s["new_window"]
    mac_ratio = b["macs"]["stream_window"] / s["macs"]["stream_window"]
    print(f"   per new window (a slide of k=11 steps), int16: single-level LSTM 32 / ShaRNN = {ratio:.2f}x "
          f"(MACs alone: {mac_ratio:.2f}x)")
    ram = s["state"] + s["stack"]
    print(f"   ShaRNN int16 working RAM: {s['state']} B model state (static-elf: brick ring + states) + "
          f"{s['stack']} B peak inference stack (stack-paint) = {ram} B; weights {s['weights']} B in flash; no heap")
    f32 = rows[("ShaRNN LSTM 32/16, k=11", "f32")]
    print(f"   int16 vs float32 ShaRNN, new window: {f32['new_window'] / s['new_window']:.1f}x fewer instructions")
    report["kws"] = {f"{n} {q}": r for (n, q), r in rows.items()}
    report["kws_ratio"], report["kws_mac_ratio"], report["kws_working_ram"] = ratio, mac_ratio, ram

    # 3. BasicMotions model
    demo = build_dir() / "demo" / "basicmotions-sharnn-gru-seed0.wbm"
    bm_path = args.basicmotions_model or (str(demo) if demo.exists() else None)
    calib, x, what = load_windows("BasicMotions", 100, 6, args.windows)
    bm_mf, src = model_file(bm_path, "sharnn", ("gru", "gru"), (16, 16), 10,
                            {"window": 100, "input_dim": 6, "num_classes": 4}, calib)
    cfg = bm_mf.config
    print(f"\n3. BasicMotions model: {cfg['family']} {'/'.join(cfg['cells'])} {cfg['hidden']}, "
          f"k={cfg.get('k')} ({src}); inputs: {args.windows} {what}")
    print(f"   {'kernel':6} {'full window':>12} {'new window':>11} {'MACs/new':>9} {'instr/MAC':>9} {'RAM':>6}")
    report["basicmotions"] = {}
    for quant in ("q15", "f32"):
        r = measure(board, bm_mf, calib, x, quant, cfg["family"] == "sharnn")
        report["basicmotions"][quant] = r
        print(f"   {quant:6} {r['full_window']:12,.0f} {r['new_window']:11,.0f} {r['macs']['stream_window']:9,d} "
              f"{r['new_window'] / r['macs']['stream_window']:9.2f} {r['state'] + r['stack']:6d}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
