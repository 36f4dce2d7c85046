"""The price of stage checkpoints (--breakdown), measured: one model built with and without them.

    python bench/checkpoint_cost.py [--model M.wbm] [--windows 3]

Under QEMU (mps2-an386), for int16 and float32: the exact instructions of a full window with the
plugin, without checkpoints and with them (the whole price, also as estimated cycles); then the
checkpoints' own share of the window as they report it themselves (their time between their two
counter readings; SysTick under -icount shift=6, 1.6 ticks per instruction, as the counter), and
each stage's share by the checkpoints beside the plugin's on the build without them. Model: the
demo's (build/demo/basicmotions-sharnn-gru-seed0.wbm, from `workbench demo`) unless --model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.boards import load_board  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402
from workbench.models.modelfile import load  # noqa: E402
from workbench.paths import build_dir  # noqa: E402
from workbench.pipeline import BuildOptions, device_inputs, export_and_build, run_on_target  # noqa: E402
from workbench.profile.breakdown import breakdown_metrics, checkpoint_metrics  # noqa: E402
from workbench.targets.qemu import QemuTarget  # noqa: E402
from workbench.targets.stages import STAGES  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(build_dir() / "demo" / "basicmotions-sharnn-gru-seed0.wbm"),
                    help="model file [the demo's]")
    ap.add_argument("--windows", type=int, default=3, help="test windows (the first is reported) [3]")
    args = ap.parse_args(argv)
    if not Path(args.model).is_file():
        raise WorkbenchError(f"{args.model} not found: run `workbench demo` first or pass --model")
    board = load_board("mps2-an386")
    mf = load(args.model)
    data = load_dataset(mf.meta.get("dataset", "BasicMotions"), "test")
    print(f"model {args.model}; window 0 of {data.name} test; mps2-an386 under QEMU")
    for quant in ("q15", "f32"):
        plain = export_and_build(mf, board, quant=quant)
        hooked = export_and_build(mf, board, quant=quant, options=BuildOptions(breakdown=True))
        inputs = device_inputs(plain, data)[: args.windows]
        exact = {}
        for name, built in (("without", plain), ("with", hooked)):
            target = QemuTarget(board, built.artifact.elf, workdir=built.artifact.elf.parent / "qemu")
            session = run_on_target(target, built, inputs)
            _, records = breakdown_metrics(session, target.windows, board.clock_hz)
            exact[name] = (session.windows[0].cost, records[0])
        ticks = QemuTarget(board, hooked.artifact.elf, use_plugin=False, icount_shift=6,
                           workdir=hooked.artifact.elf.parent / "qemu-icount")
        session = run_on_target(ticks, hooked, inputs)
        _, cp_records, _ = checkpoint_metrics(session, ticks)
        (n0, r0), (n1, r1) = exact["without"], exact["with"]
        c0, c1 = r0["cycles_est"], r1["cycles_est"]
        cp = cp_records[0]["stages"]
        total = sum(cp.values())
        print(f"\n{quant}: {n0:,} instructions without checkpoints, {n1:,} with: +{n1 - n0:,} ({(n1 - n0) / n0:+.1%}); "
              f"estimated cycles {c0:,} -> {c1:,} ({(c1 - c0) / c0:+.1%})")
        print(f"  inside the checkpoints (their own readings): {cp['checkpoints'] / total:.1%} of the window")
        print(f"  {'stage':6} {'checkpoints':>12} {'plugin, no checkpoints':>23}")
        for s in STAGES:
            print(f"  {s:6} {cp[s] / total:12.1%} {r0['stages'][s] / n0:23.1%}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except WorkbenchError as exc:
        print(f"checkpoint_cost: {exc}", file=sys.stderr)
        sys.exit(2)
