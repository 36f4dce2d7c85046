"""Bit-exactness and accuracy of the int16 kernels on whole test sets, through the product's own path.

    python bench/quant_check.py MODEL.wbm [MODEL.wbm ...] [--limit N] [--no-sliding] [--profiles DIR]

For every model file (its dataset is the one it was trained on) and for both device kernel paths
(SMLAD and portable C), this runs ``workbench run --quant q15 --sliding`` on mps2-an386 under QEMU:
every test window as a full window and streamed brick by brick, then all test windows end to end as
one sliding stream. It prints, per model: float accuracy (torch), int16 accuracy (device), their
difference in points; the fraction of windows whose device logits equal the host-compiled C and the
numpy reference bit for bit (full, streamed, sliding); whether the SMLAD and portable builds gave the
same logits; the streamed-window cost; and the wall time. Profiles are kept in --profiles.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.commands.run import run_model  # noqa: E402
from workbench.models.modelfile import load  # noqa: E402

CHECKS = ("agreement.device_host", "agreement.device_reference", "agreement.host_reference", "agreement.stream_full",
          "agreement.sliding_device_host", "agreement.sliding_device_reference")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--limit", type=int, help="only the first N test windows")
    ap.add_argument("--no-sliding", action="store_true", help="skip the sliding stream pass")
    ap.add_argument("--profiles", default="build/quant_check", help="where to write the profiles")
    args = ap.parse_args(argv)
    out_dir = Path(args.profiles)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows, ok = [], True
    for path in args.models:
        mf = load(path)
        cfg = mf.config
        name = f"{mf.meta.get('dataset')} {cfg['family']} {'/'.join(cfg['cells'])} {cfg['hidden']}"
        logits = {}
        for kernel in ("dsp", "portable"):
            t0 = time.monotonic()
            prof, _ = run_model("mps2-an386", Path(path), None, "test", out_dir / f"{Path(path).stem}-{kernel}.json",
                                True, True, "plugin", args.limit, quant="q15", kernel_path=kernel,
                                sliding=not args.no_sliding and cfg["family"] == "sharnn")
            m = prof["metrics"]
            logits[kernel] = [w["logits"] for w in prof["windows"]]
            checks = {c: m[c]["value"] for c in CHECKS if c in m}
            ok &= all(v == 1.0 for v in checks.values())
            rows.append((name, kernel, prof["dataset"]["count"], m["accuracy.torch"]["value"],
                         m["accuracy.device"]["value"], checks, m.get("cost.stream_window.median", {}).get("value"),
                         time.monotonic() - t0))
        same = logits["dsp"] == logits["portable"]
        ok &= same
        r = rows[-1]
        print(f"{name}: {r[2]} windows, float {r[3]:.4f}, int16 {r[4]:.4f} ({100 * (r[4] - r[3]):+.2f} points); "
              f"SMLAD == portable: {same}", flush=True)
        for row in rows[-2:]:
            print(f"   {row[1]:8} " + ", ".join(f"{k.split('.', 1)[1]} {v:.4f}" for k, v in row[5].items())
                  + (f"; streamed window {row[6]:,.0f} instructions" if row[6] else "") + f"; {row[7]:.0f} s", flush=True)
    print("all bit-exact" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
