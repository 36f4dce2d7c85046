"""Time per inference of the BasicMotions ShaRNN on the MicroPython unix port, three kernels side by side.

One unix-port process, one copy of the files (mpremote through the raw-REPL test harness), three
models loaded at once (bytecode, viper/native, native module); every test window runs through all
three in rotating order, so a busy machine slows them alike. Times are time.ticks_us() differences
on the device (source micropython-ticks-us); the outputs of all kernels are checked against the
reference (numpy integer reference for q15, host C for f32) on every window.

    python bench/micropython_bench.py [--model M.wbm] [--quant q15|f32] [--micropython-dir DIR]

Without --model it trains the demo model (ShaRNN GRU/GRU 16/16, k=10, seed 0; ~30 s). The native
module needs a MicroPython source tree (--micropython-dir or WORKBENCH_MICROPYTHON_DIR).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.boards import load_board  # noqa: E402
from workbench.data import load_dataset  # noqa: E402
from workbench.models.modelfile import load  # noqa: E402
from workbench.pipeline.micropython import device_inputs, host_reference, prepare  # noqa: E402
from workbench.pipeline.training import demo_model  # noqa: E402
from workbench.targets.micropython import ReplLink, UnixPortTarget  # noqa: E402

NAMES = {"py": "bytecode", "viper": "viper/native", "natmod": "native module (C)"}
DEVICE_SETUP = """
import array, binascii, time, wb_sharnn
K = {kernels!r}
M = dict((k, wb_sharnn.Model('wb_model.bin', k)) for k in K)
O = dict((k, wb_sharnn.zeros(M[k].header['out'], M[k].num_classes)) for k in K)
def bench(data, first, reps):
    x = array.array(M[K[0]].header['in'], binascii.a2b_base64(data))
    m0 = M[K[0]]
    step = m0.k * m0.input_dim
    xv = memoryview(x)
    bricks = [xv[b * step:(b + 1) * step] for b in range(m0.num_bricks)]
    for i in range(len(K)):
        k = K[(first + i) % len(K)]
        m, out = M[k], O[k]
        dt = ds = 1 << 30
        for r in range(reps):
            t0 = time.ticks_us()
            m.infer(x, out)
            dt = min(dt, time.ticks_diff(time.ticks_us(), t0))
            m.stream_reset()
            for b in bricks:
                t0 = time.ticks_us()
                m.stream_push(b, out)
                t = time.ticks_diff(time.ticks_us(), t0)
            ds = min(ds, t)
        print('B', k, dt, ds, binascii.hexlify(out).decode())
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model file [the demo model, trained if missing]")
    ap.add_argument("--quant", default="q15", choices=["q15", "f32"])
    ap.add_argument("--micropython-dir", help="MicroPython source tree for the native module")
    ap.add_argument("--limit", type=int, help="only the first N test windows")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each window per kernel; the fastest counts (a busy host only adds time) [3]")
    args = ap.parse_args()

    from workbench.build.micropython import micropython_dir

    mf = load(args.model or demo_model())
    board = load_board("pyboard")
    kernels = ["py", "viper"] + (["natmod"] if micropython_dir(args.micropython_dir) else [])
    prep = prepare(mf, board, "x64", "all", args.quant, args.micropython_dir)
    data = load_dataset(mf.meta.get("dataset", "BasicMotions"), "test")
    if args.limit:
        data.x, data.y = data.x[:args.limit], data.y[:args.limit]
    inputs = device_inputs(prep, data)
    ref = host_reference(prep, inputs)
    out_dt = np.dtype({"f": "<f4", "i": "<i4"}[prep.export.output_dtype])

    full = {k: [] for k in kernels}
    streamed = {k: [] for k in kernels}
    agree = {k: 0 for k in kernels}
    with UnixPortTarget() as target:
        link = ReplLink(target.start())
        try:
            link.put(prep.build.files)
            link.exec(DEVICE_SETUP.format(kernels=tuple(kernels)))
            for i, x in enumerate(inputs):
                out = link.exec("bench(%r, %d, %d)" % (base64.b64encode(x.tobytes()).decode(), i, args.repeat),
                                timeout=300)
                for line in out.splitlines():
                    _, k, dt, ds, logits = line.split()
                    full[k].append(int(dt))
                    streamed[k].append(int(ds))
                    got = np.frombuffer(bytes.fromhex(logits), dtype=out_dt)
                    same = got.tobytes() == ref[i].tobytes() if prep.quant is not None else \
                        np.allclose(got, ref[i], atol=1e-5)
                    agree[k] += int(same)
        finally:
            link.close()
        version = target.versions()["micropython-unix"]

    base, base_min = float(np.median(full["py"])), float(np.min(full["py"]))
    print(f"\n{mf.config['family']} {'/'.join(mf.config['cells'])} {mf.config['hidden']} k={mf.config['k']} "
          f"({args.quant}) on the MicroPython unix port ({version}), {len(inputs)} {data.name} test windows, "
          f"source micropython-ticks-us")
    print(f"{'kernel':<18} {'full window us':>16} {'(min)':>8} {'streamed brick us':>18} {'(min)':>7} "
          f"{'speed-up':>9} {'(min)':>7} {'equal to reference':>19}")
    for k in kernels:
        f, s = np.asarray(full[k]), np.asarray(streamed[k])
        print(f"{NAMES[k]:<18} {np.median(f):>16,.0f} {f.min():>8,} {np.median(s):>18,.0f} {s.min():>7,} "
              f"{base / np.median(f):>8.1f}x {base_min / f.min():>6.1f}x {agree[k]:>13}/{len(inputs)}")
    print(f"(per window the fastest of {args.repeat} runs; medians and minimum over windows; "
          f"speed-up = bytecode / kernel, of medians and of minima)")
    return 0 if all(agree[k] == len(inputs) for k in kernels) or prep.quant is None else 1


if __name__ == "__main__":
    sys.exit(main())
