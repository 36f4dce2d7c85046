"""Build and run the libFuzzer harnesses of the device code that parses host data.

    python -m tests.fuzz.fuzz                      # each harness for 30 s (what CI runs, via pytest)
    python -m tests.fuzz.fuzz --runs 1000000       # each harness for a million executions
    python -m tests.fuzz.fuzz --seeds              # rewrite the seed corpus (tests/fuzz/corpus/)

Harnesses (clang with -fsanitize=fuzzer,address,undefined; UBSan findings abort):
- ``frame``:  firmware/runner/wb_frame.c (COBS, CRC, the byte-at-a-time receiver, the encoder);
- ``runner``: firmware/runner/wb_runner.c with a stub port and a stub model glue (request handling).

The committed seeds stay read-only: each run grows a scratch corpus in a temporary folder.
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RUNNER = ROOT / "firmware" / "runner"
SHARNN_INCLUDE = ROOT / "firmware" / "sharnn" / "include"
CORPUS = HERE / "corpus"
HARNESSES = {
    "frame": [HERE / "fuzz_frame.c", RUNNER / "wb_frame.c"],
    "runner": [HERE / "fuzz_runner.c", RUNNER / "wb_frame.c"],
}
CFLAGS = ["-g", "-O1", "-std=c11", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
          "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror"]


def clang() -> str | None:
    for name in ("clang-14", "clang"):
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def build(name: str, out_dir: Path) -> Path:
    cc = clang()
    if cc is None:
        raise RuntimeError("clang not found (Debian: apt-get install --no-install-recommends clang-14 "
                           "libclang-rt-14-dev)")
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / f"fuzz_{name}"
    cmd = [cc, *CFLAGS, f"-I{RUNNER}", f"-I{HERE / 'stub'}", f"-I{SHARNN_INCLUDE}", "-o", str(exe),
           *map(str, HARNESSES[name])]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building fuzz_{name} failed:\n{proc.stderr[-3000:]}")
    return exe


@dataclass
class FuzzRun:
    name: str
    runs: int
    seconds: float
    crashed: bool
    returncode: int
    log_tail: str


def run(name: str, exe: Path, *, seconds: int | None = None, runs: int | None = None,
        work_dir: Path | None = None) -> FuzzRun:
    """One libFuzzer session from the committed seeds; counts executions from libFuzzer's summary."""
    work = Path(work_dir or tempfile.mkdtemp(prefix=f"wb-fuzz-{name}-"))
    scratch = work / "corpus"
    scratch.mkdir(parents=True, exist_ok=True)
    args = [str(exe), str(scratch), str(CORPUS / name), "-max_len=2048", "-timeout=10", "-rss_limit_mb=2048",
            f"-artifact_prefix={work}/", "-print_final_stats=1"]
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    if runs is not None:
        args.append(f"-runs={runs}")
    t0 = time.monotonic()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=work)
    wall = time.monotonic() - t0
    log = proc.stderr
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", log) or re.search(r"Done (\d+) runs", log)
    executed = int(m.group(1)) if m else 0
    crashed = proc.returncode != 0 or "ERROR: libFuzzer" in log or "SUMMARY: " in log
    return FuzzRun(name, executed, wall, crashed, proc.returncode, "\n".join(log.splitlines()[-25:]))


# -- seed corpus --------------------------------------------------------------------------------------
def _frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    sys.path.insert(0, str(ROOT))
    from workbench.link.protocol import encode_frame

    return encode_frame(ftype, seq, payload)


def _script_frame(ftype: int, seq: int, payload: bytes = b"", op: int = 0) -> bytes:
    return bytes([op, ftype, seq, len(payload)]) + payload


def seeds() -> dict[str, dict[str, bytes]]:
    hello, infer, stats = _frame(1, 1), _frame(3, 3), _frame(5, 4)
    write = _frame(2, 2, struct.pack("<I", 0) + bytes(range(40)))
    stream = _frame(4, 5, struct.pack("<I", 24))
    return {
        "frame": {
            "hello": hello, "write": write, "infer": infer, "stream": stream, "stats": stats,
            "garbage_then_frame": b"\x13\x37garbage" + b"\x00" + hello,
            "two_frames": hello + write,
            "overlong": bytes([0xff] * 300) + b"\x00",
            "empty_frames": b"\x00\x00\x00" + stats,
        },
        "runner": {
            "session": b"\x00" + _script_frame(1, 1) + _script_frame(2, 2, struct.pack("<I", 0) + bytes(48))
            + _script_frame(3, 3) + _script_frame(6, 4) + _script_frame(4, 5, struct.pack("<I", 0))
            + b"\x03" + _script_frame(4, 6, struct.pack("<I", 24)) + _script_frame(5, 7),
            "write_edges": b"\x00" + _script_frame(2, 1, struct.pack("<I", 90) + bytes(6))
            + _script_frame(2, 2, struct.pack("<I", 91) + bytes(6)) + _script_frame(2, 3, b"\x01")
            + _script_frame(2, 4, struct.pack("<I", 0xFFFFFFFF) + b"\x01"),
            "stream_edges": b"\x00" + _script_frame(4, 1, struct.pack("<I", 72))
            + _script_frame(4, 2, struct.pack("<I", 73)) + _script_frame(4, 3, b"\x01\x02")
            + _script_frame(4, 4, struct.pack("<I", 0xFFFFFFFC)),
            "corrupt_and_garbage": b"\x00" + _script_frame(3, 9, b"", op=2) + b"\x07" + b"\x01\x05abcde"
            + _script_frame(3, 9) + b"\x03",
            "unknown_and_exit": b"\x00" + _script_frame(0x30, 1) + _script_frame(7, 2, b"\x05"),
            "raw_line": b"\x01" + hello + write + infer,
        },
    }


def write_seeds() -> None:
    for name, files in seeds().items():
        d = CORPUS / name
        d.mkdir(parents=True, exist_ok=True)
        for fname, data in files.items():
            (d / fname).write_bytes(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, help="run each harness this long [30 unless --runs]")
    ap.add_argument("--runs", type=int, help="run each harness for this many executions")
    ap.add_argument("--only", choices=sorted(HARNESSES), help="one harness")
    ap.add_argument("--seeds", action="store_true", help="rewrite the committed seed corpus and stop")
    args = ap.parse_args(argv)
    if args.seeds:
        write_seeds()
        return 0
    seconds = args.seconds if args.seconds or args.runs else 30
    failed = 0
    out = Path(tempfile.mkdtemp(prefix="wb-fuzz-build-"))
    for name in [args.only] if args.only else list(HARNESSES):
        exe = build(name, out)
        r = run(name, exe, seconds=seconds, runs=args.runs)
        status = "CRASH" if r.crashed else "ok"
        print(f"fuzz_{name}: {r.runs:,} executions in {r.seconds:.1f} s "
              f"({r.runs / max(r.seconds, 1e-9):,.0f}/s), {status}")
        if r.crashed:
            failed += 1
            print(r.log_tail)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
