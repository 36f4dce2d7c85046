"""Link robustness on the full BasicMotions test set under QEMU: a clean run against a damaged one.

    PYTHONPATH=$PWD python bench/faulty_link.py [--faults drop=0.01,flip=0.01,dup=0.01,seed=1]
                                                [--fail-faults drop=0.2,flip=0.2,dup=0.2,seed=1] [--limit N]

1. trains (or reuses) the demo model: ShaRNN GRU/GRU 16/16, k=10, seed 0;
2. runs every test window clean, then through the fault-injecting proxy, and compares per window:
   full-window logits, streamed logits, every instruction count the plugin wrote (each full window and
   each brick), and the device's own counters (one inference per window, one push per brick);
3. runs again with heavy damage and reports how the run ended and how long that took, and that QEMU
   was reaped and its port freed.

Prints figures; asserts nothing about time (see tests/test_link_faults.py for the behaviour tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.boards import load_board  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.errors import DeviceError  # noqa: E402
from workbench.link.faulty import FaultSpec  # noqa: E402
from workbench.models.modelfile import load  # noqa: E402
from workbench.pipeline import device_inputs, export_and_build, run_on_qemu  # noqa: E402
from workbench.pipeline.training import demo_model  # noqa: E402
from workbench.targets import qemu_plugin  # noqa: E402
from workbench.targets.qemu import port_is_free  # noqa: E402


def one_run(board, built, inputs, spec):
    t0 = time.monotonic()
    session, target, _ = run_on_qemu(board, built, inputs, fault_link=spec)
    wall = time.monotonic() - t0
    counts = qemu_plugin.read_counts(target.counts_path)
    return session, counts, wall


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faults", default="drop=0.01,flip=0.01,dup=0.01,seed=1")
    ap.add_argument("--fail-faults", default="drop=0.2,flip=0.2,dup=0.2,seed=1")
    ap.add_argument("--limit", type=int)
    args = ap.parse_args()

    board = load_board("mps2-an386")
    mf = load(demo_model())
    built = export_and_build(mf, board)
    data = load_dataset("BasicMotions", "test")
    inputs = device_inputs(built.export, data)[:args.limit]
    n, bricks = len(inputs), built.export.window // built.export.k

    clean, clean_counts, clean_wall = one_run(board, built, inputs, None)
    spec = FaultSpec.parse(args.faults)
    faulty, faulty_counts, faulty_wall = one_run(board, built, inputs, spec)

    same_logits = sum(a.logits.tobytes() == b.logits.tobytes() for a, b in zip(clean.windows, faulty.windows))
    same_stream = sum(a.stream_logits.tobytes() == b.stream_logits.tobytes()
                      for a, b in zip(clean.windows, faulty.windows))
    same_cost = sum(a.cost == b.cost and a.stream_cost == b.stream_cost for a, b in zip(clean.windows, faulty.windows))
    fi = faulty.link["fault_injection"]
    print(f"windows: {n} (x {bricks} bricks streamed)")
    print(f"clean : {clean_wall:6.1f} s  device stats infers={clean.stats['infers']} streams={clean.stats['streams']} "
          f"duplicates={clean.stats['duplicates']} crc_errors={clean.stats['crc_errors']}")
    print(f"faulty: {faulty_wall:6.1f} s  device stats infers={faulty.stats['infers']} "
          f"streams={faulty.stats['streams']} duplicates={faulty.stats['duplicates']} "
          f"crc_errors={faulty.stats['crc_errors']} frame_errors={faulty.stats['frame_errors']}")
    print(f"faulty link ({spec}): to device {fi['to_device']}, to host {fi['to_host']}")
    link = {k: v for k, v in faulty.link.items() if k not in ("events", "fault_injection")}
    print(f"host link counters: {link}")
    print(f"windows with bit-identical full logits: {same_logits}/{n}; streamed logits: {same_stream}/{n}; "
          f"same costs: {same_cost}/{n}")
    print(f"plugin counts: clean {len(clean_counts)}, faulty {len(faulty_counts)}, identical: "
          f"{clean_counts == faulty_counts}")
    diffs = [(i, a, b - a) for i, (a, b) in enumerate(zip(clean_counts, faulty_counts)) if a != b]
    if diffs:
        print(f"differing counts (index, clean, faulty - clean): {diffs[:20]}")
    ok = (same_logits == n and same_stream == n and clean_counts == faulty_counts
          and len(clean_counts) == n * (1 + bricks)
          and faulty.stats["infers"] == n and faulty.stats["streams"] == n * bricks)
    print("RESULT 1%:", "identical, every window answered exactly once" if ok else "MISMATCH")

    fail_spec = FaultSpec.parse(args.fail_faults)
    t0 = time.monotonic()
    from workbench.targets.qemu import QemuTarget

    ports = []
    orig_start = QemuTarget.start

    def spy_start(self):          # remember the port and the process to check they are released
        port = orig_start(self)
        ports.append((self.port, self))
        return port

    QemuTarget.start = spy_start
    try:
        one_run(board, built, inputs, fail_spec)
        print(f"RESULT {fail_spec}: the run unexpectedly finished")
        return 1
    except DeviceError as exc:
        took = time.monotonic() - t0
        qport, target = ports[-1]
        print(f"RESULT {fail_spec}: error after {took:.1f} s: {exc}")
        print(f"QEMU reaped: {target.proc.poll() is not None} (exit {target.proc.returncode}); "
              f"serial port {qport} free: {port_is_free(qport)}")
    finally:
        QemuTarget.start = orig_start
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
