"""Largest error of the float kernels' activations against a double-precision reference.

    python bench/activation_error.py [--step N]

Compiles a small C program with the kernel library (host gcc, the library's flags) that runs
``sharnn_sigmoidf`` and ``sharnn_tanhf`` on every float32 in [-40, 40] (with --step N, every N-th
bit pattern) and compares each result with the double-precision libm value of the same input
(``1 / (1 + exp(-x))`` and ``tanh(x)``). Beyond |x| = 40 the kernels clamp x to +-40; the error
there is at most the function's distance to its limit at 40 (printed). Prints, per function, the
largest absolute error, where it occurs, and the largest error in units in the last place of the
float32 result (ulp of the exact value). The kernel itself uses no libm: only this check does.

The same bits come out of the device (tests/test_kernel_float_qemu.py compares activations on the
Cortex-M4F with the host build), so these figures hold there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.build.host import CFLAGS, host_compiler  # noqa: E402
from workbench.paths import build_dir, firmware_dir  # noqa: E402

SOURCE = r"""
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sharnn.h"

static double ulp_of(double v)       /* float32 ulp at |v| (subnormal spacing below 2^-126) */
{
    int e;
    frexp(fabs(v), &e);
    return ldexp(1.0, (e - 24 < -149 ? -149 : e - 24));
}

typedef struct { double abs, abs_x, ulp, ulp_x; uint64_t n; } err_t;

static void measure(const char *name, float (*f)(float), double (*ref)(double), uint32_t step)
{
    err_t e = { 0 };
    const float lim = 40.0f;
    uint32_t top;
    memcpy(&top, &lim, 4);
    for (int sign = 0; sign < 2; sign++) {
        for (uint64_t b = 0; b <= top; b += step) {
            uint32_t bits = (uint32_t)b | (sign ? 0x80000000u : 0u);
            float x;
            memcpy(&x, &bits, 4);
            const double want = ref((double)x), got = (double)f(x);
            const double d = fabs(got - want), u = d / ulp_of(want);
            if (d > e.abs) { e.abs = d; e.abs_x = x; }
            if (u > e.ulp) { e.ulp = u; e.ulp_x = x; }
            e.n++;
        }
    }
    printf("%s %llu %.9g %.9g %.6f %.9g\n", name, (unsigned long long)e.n, e.abs, e.abs_x, e.ulp, e.ulp_x);
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

int main(int argc, char **argv)
{
    const uint32_t step = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 10) : 1u;
    measure("sigmoid", sharnn_sigmoidf, sigmoid, step);
    measure("tanh", sharnn_tanhf, tanh, step);
    printf("limits %.9g %.9g\n", sigmoid(-40.0), 1.0 - tanh(40.0));
    return 0;
}
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--step", type=int, default=1, help="every N-th float32 bit pattern [1: all of them]")
    args = ap.parse_args(argv)
    out = build_dir() / "activation-error"
    out.mkdir(parents=True, exist_ok=True)
    (out / "main.c").write_text(SOURCE)
    fw = firmware_dir()
    exe = out / "activation_error"
    flags = [f for f in CFLAGS if f not in ("-fPIC", "-shared", "-fvisibility=default")]
    subprocess.run([host_compiler(), *flags, f"-I{fw / 'sharnn' / 'include'}", "-o", str(exe), str(out / "main.c"),
                    str(fw / "sharnn" / "src" / "sharnn_f32.c"), "-lm"], check=True)
    t0 = time.monotonic()
    proc = subprocess.run([str(exe), str(args.step)], capture_output=True, text=True, check=True)
    print(f"float activations against double-precision libm, every {'' if args.step == 1 else f'{args.step}-th '}"
          f"float32 x in [-40, 40] ({time.monotonic() - t0:.0f} s)")
    print(f"   {'function':8} {'inputs':>13} {'max abs error':>14} {'at x':>14} {'max ulp':>8} {'at x':>14}")
    for line in proc.stdout.splitlines():
        name, *v = line.split()
        if name == "limits":
            print(f"   beyond |x| = 40 (x clamped): sigmoid error <= sigmoid(-40) = {float(v[0]):.3g}, "
                  f"tanh error <= 1 - tanh(40) = {float(v[1]):.3g}")
            continue
        n, err, at, ulp, ulp_at = int(v[0]), float(v[1]), float(v[2]), float(v[3]), float(v[4])
        print(f"   {name:8} {n:13,d} {err:14.3e} {at:14.7g} {ulp:8.2f} {ulp_at:14.7g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
