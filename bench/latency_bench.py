"""Estimated milliseconds per new window of the keyword ShaRNN on the boards, int16 and float32.

    python bench/latency_bench.py [--kws-model M.wbm] [--windows 3] [--json out.json]

The keyword-spotting ShaRNN (LSTM 32/16, k=11; T=99 x 32 features, 12 classes; the shape of
bench/kernel_bench.py: seeded random weights unless --kws-model gives a trained one) runs under QEMU
with the profiling plugin on the two emulated Cortex-M4 boards:

- mps2-an386 (25 MHz, code and weights in zero-wait-state SSRAM);
- netduinoplus2 (STM32F405 at 168 MHz: code and weights in flash with 5 wait states behind the ART
  accelerator, as its board file's [timing] table says).

It prints, per board and arithmetic, the exact instructions of a streamed new window (one brick of
k steps plus the upper level over T/k bricks; qemu-plugin-instructions), the Cortex-M4 cycle estimate
(estimate-cm4-trm: the TRM's timing tables applied to those instructions, plus flash wait states;
an estimate, never a measurement) and the estimated milliseconds at the board's clock. Two rows
follow from the zero-wait-state cycles of mps2-an386, which are the core's own: the nRF52840 (64 MHz;
its board file assumes zero wait states) and the paper's board, a Cortex-M4 at 100 MHz, beside the
117 ms the paper reports for MI-ShaRNN 32/16.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from kernel_bench import KWS, Dataset, load_windows, model_file  # noqa: E402

from workbench.boards import load_board  # noqa: E402
from workbench.pipeline import device_inputs, export_and_build, run_on_qemu  # noqa: E402
from workbench.profile.breakdown import breakdown_metrics  # noqa: E402
from workbench.targets.cm4_profile import FlashModel  # noqa: E402

PAPER_MS = 117.0      # MI-ShaRNN 32/16 on a 100 MHz Cortex-M4 (the ShaRNN paper; as the issue quotes it)
PAPER_HZ = 100_000_000


def measure(board_name: str, mf, calib, x, quant: str) -> dict:
    board = load_board(board_name)
    built = export_and_build(mf, board, quant=quant, calib_x=calib)
    inputs = device_inputs(built, Dataset("keywords", x))
    session, target, _ = run_on_qemu(board, built, inputs)
    m, _ = breakdown_metrics(session, target.windows, board.clock_hz)
    return {"board": board_name, "quant": quant, "clock_hz": board.clock_hz,
            "wait_states": FlashModel.from_board(board).wait_states,
            "insns": statistics.median(w.stream_cost for w in session.windows),
            "cycles": m["cycles_est.stream_window.median"]["value"],
            "ms": m["latency_ms_est.stream_window.median"]["value"],
            "full_cycles": m["cycles_est.full_window.median"]["value"],
            "stages": {k.split(".")[2]: v["value"] for k, v in m.items()
                       if k.startswith("cost.stream_stage.") and k.endswith(".median")}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kws-model", help="trained ShaRNN LSTM 32/16 k=11 on the keywords [seeded random weights]")
    ap.add_argument("--windows", type=int, default=3, help="keyword test windows per run (median reported) [3]")
    ap.add_argument("--json", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    calib, x, what = load_windows("keywords", KWS["window"], KWS["input_dim"], args.windows)
    mf, src = model_file(args.kws_model, "sharnn", ("lstm", "lstm"), (32, 16), 11, KWS, calib)
    print(f"Keyword ShaRNN LSTM 32/16, k=11 ({src}); inputs: {args.windows} {what}")
    print("Streamed new window: instructions exact (qemu-plugin-instructions); cycles and ms estimated "
          "(estimate-cm4-trm), not measured\n")
    rows = [measure(b, mf, calib, x, q) for q in ("q15", "f32") for b in ("mps2-an386", "netduinoplus2")]
    print(f"{'board':38} {'clock':>8} {'flash WS':>8} {'kernel':6} {'instructions':>12} {'cycles (est.)':>13} "
          f"{'ms (est.)':>9}")
    out = []
    for r in rows:
        print(f"{r['board']:38} {r['clock_hz'] / 1e6:6.0f}MHz {r['wait_states']:8d} {r['quant']:6} {r['insns']:12,.0f} "
              f"{r['cycles']:13,.0f} {r['ms']:9.2f}")
        out.append(r)
    for q in ("q15", "f32"):
        zero = next(r for r in rows if r["board"] == "mps2-an386" and r["quant"] == q)
        for name, hz in (("nrf52840 (0 WS assumed; from mps2)", load_board("nrf52840").clock_hz),
                         ("Cortex-M4 at 100 MHz (paper's board)", PAPER_HZ)):
            ms = zero["cycles"] / hz * 1e3
            print(f"{name:38} {hz / 1e6:6.0f}MHz {0:8d} {q:6} {zero['insns']:12,.0f} {zero['cycles']:13,.0f} {ms:9.2f}")
            out.append({**zero, "board": name, "clock_hz": hz, "ms": ms})
    print(f"\nThe paper: {PAPER_MS:g} ms for MI-ShaRNN 32/16 on a {PAPER_HZ / 1e6:g} MHz Cortex-M4.")
    for q in ("q15", "f32"):
        r = next(r for r in out if r["board"].startswith("Cortex-M4 at 100") and r["quant"] == q)
        print(f"  {q}: this ShaRNN's new window at 100 MHz (est.): {r['ms']:.2f} ms; the paper's figure / this = "
              f"{PAPER_MS / r['ms']:.1f} (other weights, other code: context, not a like-for-like comparison)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
