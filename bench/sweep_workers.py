"""Sweep wall time with one worker against two workers, same grid, same machine, same run.

    PYTHONPATH=$PWD python bench/sweep_workers.py [--rounds 2] [--epochs 20] [--limit 20]

Each round runs the 12-configuration grid (k 5,10,20 x hidden 8,16 x cells gru,lstm on mps2-an386)
into fresh folders, once with --workers 1 and once with --workers 2, alternating which goes first
(ABBA) so a change in the machine's load does not favour one side. Build folders of the grid are
removed before every run so no run reuses another's objects. Prints each run's wall time and the
ratio two-worker / one-worker per round.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--k", "5", "10", "20", "--hidden", "8", "16", "--cells", "gru", "lstm", "--board", "mps2-an386"]


def keys(args) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "sweep", *GRID, "--epochs", str(args.epochs),
                          "--limit", str(args.limit), "--dry-run"], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("mps2-an386-")]


def run(workers: int, out: Path, args, grid_keys) -> float:
    for k in grid_keys:
        shutil.rmtree(ROOT / "build" / "sweep" / k, ignore_errors=True)
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "sweep", *GRID, "--epochs", str(args.epochs),
                           "--limit", str(args.limit), "--workers", str(workers), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"sweep with {workers} worker(s) failed: {proc.stderr.strip()[-500:]}")
    n = len(list(out.glob("*.json")))
    # CPU seconds of the sweep and everything under it (workers, QEMU, gcc) over wall seconds: how many
    # cores the run actually got on this shared machine.
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    print(f"  {workers} worker(s): {seconds:7.1f} s wall, {n} profiles, {cpu:6.1f} CPU s = "
          f"{cpu / seconds:.2f} cores  (load avg {os.getloadavg()[0]:.1f})", flush=True)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--keep", help="keep the sweeps' profiles in this folder (default: a temporary one)")
    args = ap.parse_args()
    grid_keys = keys(args)
    print(f"grid: {len(grid_keys)} configurations, {args.epochs} epochs, {args.limit} windows each; "
          f"{os.cpu_count()} cores")
    ratios = []
    with tempfile.TemporaryDirectory(prefix="wb-sweep-bench-") as tmp:
        tmp = args.keep or tmp
        for r in range(args.rounds):
            print(f"round {r + 1}:")
            order = (1, 2) if r % 2 == 0 else (2, 1)
            t = {w: run(w, Path(tmp) / f"r{r}-w{w}", args, grid_keys) for w in order}
            ratios.append(t[2] / t[1])
            print(f"  two workers / one worker = {ratios[-1]:.3f}")
    print("ratios: " + ", ".join(f"{x:.3f}" for x in ratios) + f"; worst {max(ratios):.3f}")


if __name__ == "__main__":
    main()
