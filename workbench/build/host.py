"""The same kernel, glue and generated model compiled for this machine (x86-64), loaded with ctypes.

This is the host side of the device/host agreement check: built from the same sources with
-ffp-contract=off, its float outputs must equal the device's bit for bit.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from workbench.build import cache
from workbench.errors import WorkbenchError
from workbench.export.c import ExportInfo
from workbench.filesystem import locked, storage_trouble
from workbench.paths import firmware_dir

CFLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-fPIC", "-shared", "-Wall", "-Wextra", "-fvisibility=default"]


def host_compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise WorkbenchError("no host C compiler found (gcc); it is needed for the host reference run")
    return cc


def host_sources(info: ExportInfo) -> list[Path]:
    fw = firmware_dir()
    return sorted((fw / "sharnn" / "src").glob("*.c")) + [fw / "runner" / f"wb_model_{info.quantization}.c",
                                                         Path(info.directory) / "wb_model_data.c"]


def build_host_library(info: ExportInfo, out_dir: Path, extra_cflags: list[str] | None = None) -> Path:
    fw = firmware_dir()
    srcs = host_sources(info)
    flags = CFLAGS + list(extra_cflags or []) + [f"-I{fw / 'sharnn' / 'include'}", f"-I{fw / 'runner'}",
                                                  f"-I{info.directory}"]
    h = hashlib.sha256(" ".join(flags).encode())
    headers = sorted((fw / "sharnn" / "include").glob("*.h")) + sorted((fw / "sharnn" / "src").glob("*.h"))
    for p in srcs + headers + sorted((fw / "runner").glob("*.h")) + [Path(info.directory) / "wb_model_config.h"]:
        h.update(p.read_bytes())
    inputs = h.hexdigest()
    lib = out_dir / f"libwbmodel-{inputs[:12]}.so"
    if cache.intact(lib, inputs):      # verified before every load: a truncated .so is a SIGBUS in ctypes
        return lib
    with locked(out_dir, "host build folder"):
        if cache.intact(lib, inputs):  # another run built it while this one waited
            return lib
        tmp = out_dir / f".{lib.name}.{os.getpid()}.tmp"
        try:
            proc = subprocess.run([host_compiler(), *flags, "-o", str(tmp), *map(str, srcs), "-lm"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                first = next((l for l in proc.stderr.splitlines() if "error" in l), proc.stderr.strip()[:200])
                storage = storage_trouble(proc.stderr)
                raise WorkbenchError(f"host build of the kernel failed in {out_dir}: {storage}" if storage else
                                     f"host build of the kernel failed: {first}")
            os.replace(tmp, lib)
        finally:
            tmp.unlink(missing_ok=True)
        cache.stamp(lib, inputs)
    return lib


class HostKernel:
    """ctypes view of the glue functions (wb_model_infer, wb_model_stream_push, ...)."""

    def __init__(self, lib_path: Path, info: ExportInfo):
        self.lib = ctypes.CDLL(str(lib_path))
        self.info = info
        self.in_dtype = np.dtype("<f4") if info.input_dtype == "f32" else np.dtype("<i2")
        self.out_dtype = np.dtype("<f4") if info.output_dtype == "f32" else np.dtype("<i4")
        for name in ("wb_model_infer", "wb_model_stream_push"):
            getattr(self.lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self.lib.wb_model_stream_push.restype = ctypes.c_int
        self.lib.wb_model_init()

    def _out(self):
        return np.zeros(self.info.num_classes, dtype=self.out_dtype)

    def infer(self, window: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(window, dtype=self.in_dtype)
        out = self._out()
        self.lib.wb_model_infer(x.ctypes.data, out.ctypes.data)
        return out

    def stream_reset(self) -> None:
        self.lib.wb_model_stream_reset()

    def stream_push(self, brick: np.ndarray) -> np.ndarray | None:
        x = np.ascontiguousarray(brick, dtype=self.in_dtype)
        out = self._out()
        return out if self.lib.wb_model_stream_push(x.ctypes.data, out.ctypes.data) else None
