"""Flashing real boards through a debug probe.

Zephyr builds are flashed with ``west flash`` and the runner the board file names
(``[flashing] west_runner``); other firmware (an ELF or hex) with pyOCD's Python API and the board
file's ``pyocd_target``, with a progress bar.

Before either, the probe is looked for on USB: on Linux by reading sysfs, which answers at once
(pyOCD's own enumeration needs seconds to import), elsewhere through pyOCD. No probe is a one-line
error naming what was looked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench.boards import Board
from workbench.errors import DeviceError, WorkbenchError

USB_SYSFS = Path("/sys/bus/usb/devices")

# (vendor id, product ids or None for any, name). CMSIS-DAP probes of any vendor are also found by
# their product string, as pyOCD does.
KNOWN_PROBES = (
    (0x1366, None, "SEGGER J-Link"),
    (0x0D28, (0x0204,), "Arm DAPLink"),
    (0x0483, (0x3744, 0x3748, 0x374B, 0x374D, 0x374E, 0x374F, 0x3752, 0x3753, 0x3754, 0x3757), "ST-Link"),
    (0x2E8A, (0x000C,), "Raspberry Pi Debug Probe"),
    (0x1FC9, (0x0090, 0x0143), "NXP MCU-Link"),
)
LOOKED_FOR = "SEGGER J-Link, CMSIS-DAP/DAPLink, ST-Link, Raspberry Pi Debug Probe and MCU-Link USB devices"


@dataclass
class Probe:
    name: str
    vid: int
    pid: int
    serial: str = ""
    product: str = ""

    @property
    def is_jlink(self) -> bool:
        return self.vid == 0x1366


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _identify(vid: int, pid: int, product: str) -> str | None:
    for want_vid, pids, name in KNOWN_PROBES:
        if vid == want_vid and (pids is None or pid in pids):
            return name
    return "CMSIS-DAP probe" if "CMSIS-DAP" in product.upper() else None


def usb_probes(sysfs: Path | None = None) -> list[Probe] | None:
    """Debug probes on USB according to Linux sysfs; None where sysfs cannot tell (not Linux)."""
    sysfs = USB_SYSFS if sysfs is None else sysfs
    if not sys.platform.startswith("linux"):
        return None
    if not sysfs.is_dir():
        return []          # no USB bus on this machine (a container, a VM without USB)
    found = []
    for dev in sorted(sysfs.iterdir()):
        vid, pid = _read(dev / "idVendor"), _read(dev / "idProduct")
        if not vid or not pid:
            continue
        product = _read(dev / "product")
        name = _identify(int(vid, 16), int(pid, 16), product)
        if name:
            found.append(Probe(name, int(vid, 16), int(pid, 16), _read(dev / "serial"), product))
    return found


def pyocd_probes() -> list[Probe]:
    from pyocd.core.helpers import ConnectHelper

    return [Probe(p.description, 0, 0, p.unique_id, p.product_name or "")
            for p in ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)]


def find_probes() -> list[Probe]:
    found = usb_probes()
    return pyocd_probes() if found is None else found


def require_probe() -> Probe:
    probes = find_probes()
    if not probes:
        where = "" if USB_SYSFS.is_dir() or not sys.platform.startswith("linux") else "; this machine has no USB bus"
        raise DeviceError(f"no debug probe found (looked for: {LOOKED_FOR}{where})")
    return probes[0]


def west_flash_command(board: Board, build_dir: Path, probe: Probe | None = None, west: str = "west") -> list[str]:
    runner = board.flashing.get("west_runner")
    if not runner:
        raise WorkbenchError(f"board {board.name} names no west runner ([flashing] west_runner)")
    cmd = [west, "flash", "-d", str(build_dir), "--runner", runner]
    if probe is not None and probe.serial:
        cmd += ["--dev-id", probe.serial.lstrip("0") if probe.is_jlink and runner == "jlink" else probe.serial]
    return cmd


def west_flash(board: Board, build_dir: Path, probe: Probe, extra: dict, progress) -> None:
    """Run ``west flash`` on a Zephyr build (``extra``: the artefact's west and workspace); its lines go
    to the progress display (runners print their own progress)."""
    cmd = west_flash_command(board, build_dir, probe, extra.get("west", "west"))
    env = dict(os.environ, **({"ZEPHYR_BASE": extra["zephyr_base"]} if extra.get("zephyr_base") else {}))
    task = progress.add_task(f"west flash ({cmd[cmd.index('--runner') + 1]})", total=None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = []
    for line in proc.stdout:
        tail = (tail + [line.rstrip()])[-20:]
        progress.console.print(line.rstrip(), markup=False, highlight=False)
    if proc.wait() != 0:
        last = next((l for l in reversed(tail) if l.strip()), "no output")
        raise DeviceError(f"west flash failed: {last}")
    progress.update(task, total=1, completed=1)


def pyocd_flash(board: Board, firmware: Path, probe: Probe, progress) -> None:
    """Program an ELF/hex/bin with pyOCD's Python API and reset the target."""
    target = board.flashing.get("pyocd_target")
    if not target:
        raise WorkbenchError(f"board {board.name} names no pyOCD target ([flashing] pyocd_target)")
    from pyocd.core.helpers import ConnectHelper
    from pyocd.flash.file_programmer import FileProgrammer

    task = progress.add_task(f"pyOCD {target}", total=100)
    session = ConnectHelper.session_with_chosen_probe(unique_id=probe.serial or None, blocking=False,
                                                      return_first=True, target_override=target)
    if session is None:
        raise DeviceError(f"pyOCD could not open the probe {probe.name} ({probe.serial})")
    with session:
        FileProgrammer(session, progress=lambda f: progress.update(task, completed=100 * f)).program(str(firmware))
        session.board.target.reset()
    progress.update(task, completed=100)
