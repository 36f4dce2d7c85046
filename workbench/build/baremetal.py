"""Bare-metal backend: ``make -f firmware/ports/baremetal.mk`` with arm-none-eabi-gcc."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from workbench.boards import Board
from workbench.build import Artifact
from workbench.build.elfreport import memory_report
from workbench.build.cache import drop_damaged_outputs, stamp_outputs
from workbench.errors import WorkbenchError
from workbench.export.c import ExportInfo
from workbench.filesystem import io_error, locked, plain_path, storage_trouble
from workbench.paths import firmware_dir

CROSS = "arm-none-eabi-"
STACK_BYTES = 4096      # the runner's reserved stack on every bare-metal port (make's STACK_SIZE)


def gcc_version(cross: str = CROSS) -> str:
    exe = shutil.which(cross + "gcc")
    if exe is None:
        raise WorkbenchError(f"{cross}gcc not found (Debian: apt-get install --no-install-recommends "
                             "gcc-arm-none-eabi libnewlib-arm-none-eabi)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+\.\d+\.\d+)", out.splitlines()[0] if out else "")
    return m.group(1) if m else "unknown"


def build(board: Board, info: ExportInfo, out_dir: Path, *, stack_size: int = STACK_BYTES,
          extra_cflags: str = "", opt: str = "-O2", make_vars: dict[str, str] | None = None) -> Artifact:
    """The device runner with the exported model ``info``. ``make_vars``: extra ``NAME=value`` for
    baremetal.mk (tests set ``GLUE_SRC`` to a glue that faults or hangs on purpose)."""
    variables = [f"MODEL_DIR={plain_path(info.directory)}", f"QUANT={info.quantization}", *_vars(make_vars)]
    return _make(board, out_dir, variables, Path(info.directory), stack_size, extra_cflags, opt)


def build_app(board: Board, app: str, out_dir: Path, *, extra_cflags: str = "", opt: str = "-O2",
              model: ExportInfo | None = None, make_vars: dict[str, str] | None = None) -> Artifact:
    """Another program under firmware/<app>/ (e.g. the kernel benchmark) with the kernel and the port,
    and the exported ``model`` if it takes one; ``make_vars`` as for ``build``."""
    if not (firmware_dir() / app).is_dir():
        raise WorkbenchError(f"no firmware program '{app}' under firmware/")
    model_dir = Path(model.directory) if model is not None else Path(out_dir)
    variables = [f"APP={app}", f"MODEL_DIR={plain_path(model_dir)}", *_vars(make_vars)]
    return _make(board, out_dir, variables, model_dir, STACK_BYTES, extra_cflags, opt)


def _vars(make_vars: dict[str, str] | None) -> list[str]:
    """``NAME=value`` for make, a path value through plain_path (make splits words at spaces)."""
    return [f"{k}={plain_path(v) if Path(v).is_absolute() else v}" for k, v in (make_vars or {}).items()]


def _make(board: Board, out_dir: Path, variables: list[str], export_dir: Path, stack_size: int,
          extra_cflags: str, opt: str) -> Artifact:
    port = board.backends.get("baremetal")
    if not port:
        raise WorkbenchError(f"board {board.name} has no bare-metal port (backends: {', '.join(board.backends)})")
    if not (firmware_dir() / "ports" / port / "port.mk").is_file():
        raise WorkbenchError(f"board {board.name}: bare-metal port '{port}' not found under firmware/ports")
    version = gcc_version()
    if shutil.which("make") is None:
        raise WorkbenchError("make not found (Debian: apt-get install make)")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_error("create the build folder", out_dir, exc) from None
    elf = out_dir / "firmware.elf"
    with locked(out_dir, "firmware build folder"):     # benchmarks build here too, not only export_and_build
        _run_make(board, out_dir, variables, stack_size, extra_cflags, opt, port)
        memory = memory_report(elf)
    return Artifact(board=board.name, backend="baremetal", elf=elf, memory=memory,
                    toolchain=f"arm-none-eabi-gcc {version}", export_dir=export_dir,
                    extra={"port": port, "opt": opt})


def _run_make(board: Board, out_dir: Path, variables: list[str], stack_size: int, extra_cflags: str, opt: str,
              port: str) -> None:
    # make trusts a product newer than its sources: one a killed build or a full disk cut short would
    # be linked as it is. Products whose bytes differ from the last good build's are removed first.
    drop_damaged_outputs(out_dir, _products(out_dir))
    # Every path through plain_path: make cannot take a space, gcc's -Wl, options cannot take a comma.
    cmd = ["make", "-s", "-f", f"{plain_path(firmware_dir())}/ports/baremetal.mk", f"-j{os.cpu_count() or 1}",
           f"PORT={port}", f"OUT={plain_path(out_dir)}", *variables, f"OPT={opt}", f"EXTRA_CFLAGS={extra_cflags}",
           f"STACK_SIZE={stack_size}"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).splitlines()
        first = next((l for l in lines if "error" in l.lower()), lines[-1] if lines else "")
        if "will not fit in region" in proc.stderr or "overflowed by" in proc.stderr:
            first = next(l for l in lines if "overflowed by" in l or "will not fit" in l)
            raise WorkbenchError(f"firmware does not fit board {board.name}: {first.split(': ', 1)[-1]}")
        storage = storage_trouble(proc.stderr + proc.stdout)
        if storage:
            raise WorkbenchError(f"firmware build failed in {out_dir}: {storage}")
        raise WorkbenchError(f"firmware build failed: {first.strip()}")
    stamp_outputs(out_dir, [p for p in _products(out_dir) if p.exists()])


def stamp(art: Artifact) -> None:
    """Stamp a build's products again after its ELF was changed in place (the --breakdown stage table)."""
    out_dir = art.elf.parent
    stamp_outputs(out_dir, [p for p in _products(out_dir) if p.exists()])


def _products(out_dir: Path) -> list[Path]:
    """What make builds in ``out_dir`` and a later build reuses: the objects and the ELF."""
    return [*sorted((out_dir / "obj").glob("*.o")), out_dir / "firmware.elf"]

