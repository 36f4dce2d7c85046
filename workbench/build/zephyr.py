"""Zephyr backend: ``west build`` of the runner application (``firmware/ports/zephyr``) in the
user's own Zephyr workspace, with the user's toolchain.

The workspace is the one ``ZEPHYR_BASE`` names, else the one ``west topdir`` finds from the current
folder. The toolchain is whatever that workspace would use: the Zephyr SDK, or
``ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb`` with ``GNUARMEMB_TOOLCHAIN_PATH`` (an Arm GNU toolchain). The
sharnn kernel joins the build as a Zephyr module (``ZEPHYR_EXTRA_MODULES``), the exported model's
generated C as ``WB_MODEL_DIR``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.boards import Board
from workbench.build import Artifact
from workbench.build.elfreport import memory_report
from workbench.errors import WorkbenchError
from workbench.export.c import ExportInfo
from workbench.filesystem import plain_path
from workbench.paths import firmware_dir

SETUP = ("pip install west && west init -m https://github.com/zephyrproject-rtos/zephyr --mr v4.1.0 zephyrproject "
         "&& cd zephyrproject && west update && west sdk install; then export ZEPHYR_BASE=$PWD/zephyr")
SDK_GLOBS = ("~/zephyr-sdk-*", "~/.local/zephyr-sdk-*", "~/.local/opt/zephyr-sdk-*", "~/bin/zephyr-sdk-*",
             "/opt/zephyr-sdk-*", "/usr/local/zephyr-sdk-*", "/usr/zephyr-sdk-*")


@dataclass
class Workspace:
    zephyr_base: Path
    west: str
    version: str
    toolchain: str        # "zephyr" (SDK) or the ZEPHYR_TOOLCHAIN_VARIANT in use


def app_dir() -> Path:
    return firmware_dir() / "ports" / "zephyr"


def module_dir() -> Path:
    return firmware_dir() / "sharnn"


def sample_dir() -> Path:
    """The module's sample: an exported model in an application of one's own."""
    return module_dir() / "samples" / "classify"


def zephyr_version(base: Path) -> str:
    v = dict(re.findall(r"^(\w+)\s*=\s*(\S*)", (base / "VERSION").read_text(), re.M))
    return ".".join(v.get(k, "0") for k in ("VERSION_MAJOR", "VERSION_MINOR", "PATCHLEVEL")) + (
        f"-{v['EXTRAVERSION']}" if v.get("EXTRAVERSION") else "")


def _west_topdir_base(west: str) -> Path | None:
    """The zephyr tree of the west workspace around the current folder, if any."""
    try:
        top = subprocess.run([west, "topdir"], capture_output=True, text=True, timeout=30)
        if top.returncode != 0:
            return None
        base = subprocess.run([west, "list", "-f", "{abspath}", "zephyr"], capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(base.stdout.strip() or Path(top.stdout.strip()) / "zephyr")
    return path if (path / "VERSION").is_file() else None


def _toolchain(env: dict) -> str:
    variant = env.get("ZEPHYR_TOOLCHAIN_VARIANT")
    if variant == "gnuarmemb":
        path = env.get("GNUARMEMB_TOOLCHAIN_PATH")
        if not path or not (Path(path) / "bin" / "arm-none-eabi-gcc").exists():
            raise WorkbenchError("ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb needs GNUARMEMB_TOOLCHAIN_PATH, the folder "
                                 "holding bin/arm-none-eabi-gcc (Debian's gcc-arm-none-eabi: /usr)")
        return "gnuarmemb"
    if variant:
        return variant
    if env.get("ZEPHYR_SDK_INSTALL_DIR") or (Path.home() / ".cmake" / "packages" / "Zephyr-sdk").is_dir():
        return "zephyr"
    if any(_glob(g) for g in SDK_GLOBS):
        return "zephyr"
    raise WorkbenchError("no toolchain for Zephyr: install the Zephyr SDK (west sdk install) or use an Arm GNU "
                         "toolchain: export ZEPHYR_TOOLCHAIN_VARIANT=gnuarmemb GNUARMEMB_TOOLCHAIN_PATH=/usr")


def _glob(pattern: str) -> list[Path]:
    p = Path(os.path.expanduser(pattern))
    return list(p.parent.glob(p.name)) if p.parent.is_dir() else []


def find_workspace(env: dict | None = None) -> Workspace:
    """The user's Zephyr workspace and toolchain, or a one-line error saying how to set them up."""
    env = dict(os.environ if env is None else env)
    west = shutil.which("west", path=env.get("PATH"))
    base_env = env.get("ZEPHYR_BASE")
    if base_env:
        base = Path(base_env).expanduser()
        if not (base / "VERSION").is_file():
            raise WorkbenchError(f"ZEPHYR_BASE={base_env} is not a Zephyr tree (no VERSION file there)")
    else:
        base = _west_topdir_base(west) if west else None
        if base is None:
            raise WorkbenchError(f"no Zephyr workspace: ZEPHYR_BASE is not set and `west topdir` finds none here; "
                                 f"set one up: {SETUP}")
    if west is None:
        raise WorkbenchError("west not found on PATH: pip install west (in the Python environment that has "
                             f"Zephyr's requirements, {base}/scripts/requirements-base.txt)")
    return Workspace(base.resolve(), west, zephyr_version(base), _toolchain(env))


def _cache_value(build_dir: Path, key: str) -> str | None:
    try:
        text = (build_dir / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return None
    m = re.search(rf"^{re.escape(key)}:[A-Z]+=(.*)$", text, re.M)
    return m.group(1).strip() if m else None


def compiler_version(build_dir: Path) -> str:
    cc = _cache_value(build_dir, "CMAKE_C_COMPILER")
    if not cc:
        return "unknown"
    out = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    first = out.splitlines()[0] if out else ""
    m = re.search(r"(\d+\.\d+\.\d+)", first)
    return f"{Path(cc).name} {m.group(1) if m else first}"


def first_error(lines: list[str]) -> str:
    """The line of a west/CMake/compiler log that says what went wrong."""
    for i, line in enumerate(lines):
        if line.startswith("CMake Error"):
            detail = next((l.strip() for l in lines[i + 1:] if l.strip()), "")
            return f"{line.strip()} {detail}".strip()
        if re.search(r": (fatal )?error:|^FATAL ERROR|^ERROR:", line):
            return line.strip()
    return lines[-1].strip() if lines else "no output"


def west_build_command(ws: Workspace, zephyr_board: str, info: ExportInfo, out_dir: Path, *,
                       portable: bool = False, checkpoints: bool = False, source: Path | None = None,
                       extra: tuple[str, ...] = ()) -> list[str]:
    """``portable``: the int kernels' plain C path even where the core has DSP (CONFIG_SHARNN_PORTABLE);
    ``checkpoints``: stage checkpoints in the kernel (CONFIG_SHARNN_CHECKPOINTS, --breakdown);
    ``source``: another application than the runner (the module's sample); ``extra``: more CMake
    arguments. ``--no-sysbuild``: under sysbuild (the nRF Connect SDK's default, or ``west config
    build.sysbuild true``) the -D options would stay with sysbuild and the image would land in a
    subfolder; the runner is one image, built as one. Paths through plain_path: CMake lists split at
    ';', Zephyr's scripts at spaces; the aliases keep a checkout at any path working."""
    return [ws.west, "build", "--no-sysbuild", "-p", "auto", "-b", zephyr_board, "-d", plain_path(out_dir), "-s",
            plain_path(source or app_dir()), "--",
            f"-DZEPHYR_EXTRA_MODULES={plain_path(module_dir())}",
            f"-DWB_MODEL_DIR={plain_path(Path(info.directory).resolve())}",
            f"-DWB_QUANT={info.quantization}", f"-DCONFIG_SHARNN_PORTABLE={'y' if portable else 'n'}",
            f"-DCONFIG_SHARNN_CHECKPOINTS={'y' if checkpoints else 'n'}", *extra]


def build(board: Board, info: ExportInfo, out_dir: Path, *, portable: bool = False, checkpoints: bool = False,
          workspace: Workspace | None = None, source: Path | None = None, extra: tuple[str, ...] = ()) -> Artifact:
    zephyr_board = board.backends.get("zephyr")
    if not zephyr_board:
        raise WorkbenchError(f"board {board.name} has no Zephyr board (backends: {', '.join(board.backends)})")
    ws = workspace or find_workspace()
    out_dir = Path(out_dir).resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    log = out_dir.parent / f"{out_dir.name}-west-build.log"
    env = dict(os.environ, ZEPHYR_BASE=str(ws.zephyr_base))
    with open(log, "w") as f:
        proc = subprocess.run(west_build_command(ws, zephyr_board, info, out_dir, portable=portable,
                                                 checkpoints=checkpoints, source=source, extra=extra),
                              stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        overflow = next((l for l in lines if "overflowed by" in l or "will not fit" in l), None)
        if overflow:
            raise WorkbenchError(f"firmware does not fit board {board.name}: {overflow.split(': ', 1)[-1].strip()}")
        raise WorkbenchError(f"west build for {zephyr_board} failed: {first_error(lines)} (full log: {log})")
    elf = out_dir / "zephyr" / "zephyr.elf"
    return Artifact(board=board.name, backend="zephyr", elf=elf, memory=memory_report(elf),
                    toolchain=compiler_version(out_dir), export_dir=Path(info.directory),
                    extra={"zephyr_board": zephyr_board, "zephyr_version": ws.version,
                           "zephyr_base": str(ws.zephyr_base), "west": ws.west, "toolchain_variant": ws.toolchain,
                           "build_dir": str(out_dir), "hex": str(out_dir / "zephyr" / "zephyr.hex"),
                           "log": str(log)})
