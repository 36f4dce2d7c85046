"""Bit-exactness and accuracy of the kernels on whole test sets, through the product's own path.

    python bench/quant_check.py MODEL.wbm [MODEL.wbm ...] [--quant q15|f32] [--limit N] [--no-sliding]
                                [--host-only] [--profiles DIR] [--link semihost|uart]

For every model file (its dataset is the one it was trained on, re-aligned to the model's window):
1. host: on *every* test window, the host-compiled C kernel against its golden model: int16 (q15,
   the default) against the numpy integer reference bit for bit, full windows and the whole test set
   end to end as one sliding stream (ShaRNN), float accuracy (torch) against int16 accuracy
   (reference) and their difference in points; float32 (f32) against torch: the largest
   |host C - torch| over every logit and both accuracies;
2. device (unless --host-only), for both kernel paths (q15: SMLAD and portable C; f32: VLDM/VFMA
   assembly and portable C): ``workbench run --quant Q --sliding`` on mps2-an386 under QEMU on the
   first --limit test windows (all without it), each as a full window and streamed brick by brick,
   then end to end as one sliding stream: the fraction of windows whose device logits equal the host
   C (and for q15 the reference) bit for bit, whether the two kernel paths gave the same logits, the
   largest |device - torch| (f32), the streamed-window cost and the wall time. The frames travel
   over the semihosting link by default (``workbench run --link semihost``: the same protocol and
   runner; docs/accuracy.md has the speeds); ``--link uart`` takes the board's UART, which QEMU moves
   at ~20 KiB/s, so there --limit suits large test sets.
Profiles are kept in --profiles.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.boards import load_board  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.models.modelfile import load  # noqa: E402
from workbench.pipeline import (  # noqa: E402
    BuildOptions,
    RunSpec,
    device_inputs,
    export_and_build,
    host_logits,
    host_sliding_logits,
    model_windows,
    reference_logits,
    reference_sliding_logits,
    stream_of_windows,
    torch_logits,
)
from workbench.pipeline.run import run  # noqa: E402
from workbench.targets import LINKS  # noqa: E402

CHECKS = ("agreement.device_host", "agreement.device_reference", "agreement.host_reference", "agreement.stream_full",
          "agreement.sliding_device_host", "agreement.sliding_device_reference")


def host_check(name: str, mf, quant: str) -> bool:
    """Host C = its golden model on every test window (full windows, sliding stream); accuracies."""
    t0 = time.monotonic()
    data = model_windows(mf, load_dataset(mf.meta["dataset"], "test"))
    built = export_and_build(mf, load_board("mps2-an386"), quant=quant)
    x = device_inputs(built, data)
    host, want = host_logits(built, x), torch_logits(mf, data)
    acc_f = float((want.argmax(1) == data.y).mean())
    if quant == "f32":
        acc_h = float((host.argmax(1) == data.y).mean())
        print(f"{name}: host, all {len(x)} test windows: torch {acc_f:.4f}, host C f32 {acc_h:.4f}; "
              f"max |host C - torch| {np.abs(host.astype(np.float64) - want).max():.3e} (logits up to "
              f"{np.abs(want).max():.2f}); {time.monotonic() - t0:.0f} s", flush=True)
        return True
    ref = reference_logits(built, x)
    full = float((host == ref).all(axis=1).mean())
    acc_q = float((ref.argmax(1) == data.y).mean())
    line = (f"{name}: host, all {len(x)} test windows: float {acc_f:.4f}, int16 {acc_q:.4f} "
            f"({100 * (acc_q - acc_f):+.2f} points); host C == reference: full {full:.4f}")
    ok = full == 1.0
    if cfg_sharnn(mf):
        stream = stream_of_windows(x)
        h = [lg for lg in host_sliding_logits(built, stream) if lg is not None]
        r = reference_sliding_logits(built, stream)
        same = len(h) == len(r) and all((a == b).all() for a, b in zip(h, r))
        ok &= same
        line += f", sliding {len(r)} windows {'1.0000' if same else 'MISMATCH'}"
    print(line + f"; {time.monotonic() - t0:.0f} s", flush=True)
    return ok


def cfg_sharnn(mf) -> bool:
    return mf.config["family"] == "sharnn"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--quant", default="q15", choices=("q15", "f32"), help="kernel arithmetic [q15]")
    ap.add_argument("--limit", type=int, help="only the first N test windows")
    ap.add_argument("--no-sliding", action="store_true", help="skip the sliding stream pass")
    ap.add_argument("--host-only", action="store_true", help="only the host C and numpy checks (no QEMU)")
    ap.add_argument("--profiles", default="build/quant_check", help="where to write the profiles")
    ap.add_argument("--link", default="semihost", choices=LINKS,
                    help="byte link to the emulated board [semihost]")
    args = ap.parse_args(argv)
    out_dir = Path(args.profiles)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, ok = [], True
    for path in args.models:
        mf = load(path)
        cfg = mf.config
        name = (f"{mf.meta.get('dataset')} {cfg['family']} {'/'.join(cfg['cells'])} {cfg['hidden']}"
                + (f" {cfg['cell_options']}" if cfg.get("cell_options") else ""))
        ok &= host_check(name, mf, args.quant)
        if args.host_only:
            continue
        logits = {}
        for kernel in ("dsp", "portable"):
            t0 = time.monotonic()
            spec = RunSpec(path, out=out_dir / f"{Path(path).stem}-{args.quant}-{kernel}.json", force=True,
                           limit=args.limit, quant=args.quant, kernel_path=kernel,
                           sliding=not args.no_sliding and cfg["family"] == "sharnn",
                           build=BuildOptions(link=args.link))
            prof, _ = run(spec)
            m = prof["metrics"]
            logits[kernel] = [w["logits"] for w in prof["windows"]]
            checks = {c: m[c]["value"] for c in CHECKS if c in m}
            ok &= all(v == 1.0 for v in checks.values())
            rows.append((name, kernel, prof["dataset"]["count"], m["accuracy.torch"]["value"],
                         m["accuracy.device"]["value"], checks, m.get("cost.stream_window.median", {}).get("value"),
                         time.monotonic() - t0, m.get("error.device_torch_logit_max", {}).get("value")))
        same = logits["dsp"] == logits["portable"]
        ok &= same
        r = rows[-1]
        paths = "VFMA == portable" if args.quant == "f32" else "SMLAD == portable"
        print(f"{name}: {r[2]} windows over the {args.link} link, float {r[3]:.4f}, {args.quant} {r[4]:.4f} "
              f"({100 * (r[4] - r[3]):+.2f} points); {paths}: {same}", flush=True)
        for row in rows[-2:]:
            print(f"   {row[1]:8} " + ", ".join(f"{k.split('.', 1)[1]} {v:.4f}" for k, v in row[5].items())
                  + (f"; max |device - torch| {row[8]:.3e}" if row[8] is not None else "")
                  + (f"; streamed window {row[6]:,.0f} instructions" if row[6] else "") + f"; {row[7]:.0f} s",
                  flush=True)
    print("all bit-exact" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
