"""Flashing real boards through a debug probe.

Zephyr builds are flashed with ``west flash`` and the runner the board file names
(``[flashing] west_runner``, or ``--runner``); other firmware (an ELF or hex) with pyOCD's Python API
and the board file's ``pyocd_target``, with a progress bar.

Before either, the probe is looked for on USB: on Linux by reading sysfs, which answers at once
(pyOCD's own enumeration needs seconds to import), elsewhere through pyOCD. No probe is a one-line
error naming what was looked for; several are narrowed to the board's own kind of probe, then to
``--probe SERIAL``, and never picked at random.

Serial numbers: sysfs shows the USB string, which for a SEGGER J-Link is its decimal serial number
padded with zeros (``000683123456``); pyOCD, nrfjprog and nrfutil know the same J-Link as the number
(``683123456``). Serials are therefore compared with ``same_serial`` (case and leading zeros ignored)
and handed to each tool in the form that tool expects.
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
USB_DEVFS = Path("/dev/bus/usb")

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
JLINK_SOFTWARE = "install SEGGER's J-Link Software and Documentation Pack (https://www.segger.com/downloads/jlink/)"
UDEV_HINT = "install the probe's udev rules and replug it (docs/boards.md, 'udev rules')"
# What a missing flashing tool means, by the program a west runner reports missing.
MISSING_TOOLS = {"JLinkExe": JLINK_SOFTWARE, "nrfjprog": "install nRF Command Line Tools (and J-Link's software)",
                 "nrfutil": "install nrfutil and its device command: nrfutil install device",
                 "openocd": "install OpenOCD (Debian/Ubuntu: apt-get install openocd)",
                 "STM32_Programmer_CLI": "install STM32CubeProgrammer", "pyocd": "pip install pyocd"}


def normal_serial(serial: str) -> str:
    """A serial number in a form two tools agree on: lower case, leading zeros dropped."""
    s = serial.strip().lower()
    return s.lstrip("0") or s[:1]


def same_serial(a: str | None, b: str | None) -> bool:
    return bool(a and b) and normal_serial(a) == normal_serial(b)


@dataclass
class Probe:
    name: str
    vid: int
    pid: int
    serial: str = ""
    product: str = ""
    usb_node: str = ""       # /dev/bus/usb/BBB/DDD on Linux: what a tool opens (permissions)

    @property
    def is_jlink(self) -> bool:
        return self.vid == 0x1366

    @property
    def number(self) -> str:
        """The serial as J-Link tools (and pyOCD) name a J-Link: its decimal number, no leading zeros."""
        return normal_serial(self.serial) if self.is_jlink and self.serial.strip().isdigit() else self.serial

    @property
    def label(self) -> str:
        return f"{self.name} {self.serial}".rstrip()


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
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
            bus, num = _read(dev / "busnum"), _read(dev / "devnum")
            node = str(USB_DEVFS / f"{int(bus):03d}" / f"{int(num):03d}") if bus.isdigit() and num.isdigit() else ""
            found.append(Probe(name, int(vid, 16), int(pid, 16), _read(dev / "serial"), product, node))
    return found


def pyocd_listed() -> list:
    """pyOCD's own probe objects (each with ``unique_id``, ``description``, ``product_name``)."""
    ConnectHelper = _pyocd().ConnectHelper
    try:
        return ConnectHelper.get_all_connected_probes(blocking=False, print_wait_message=False)
    except Exception as exc:      # pyOCD's backends raise their own kinds: say it in one line
        raise DeviceError(f"pyOCD could not list debug probes: {_one_line(exc)}") from None


def pyocd_probes() -> list[Probe]:
    return [Probe(p.description, 0, 0, p.unique_id, p.product_name or "") for p in pyocd_listed()]


def find_probes() -> list[Probe]:
    found = usb_probes()
    return pyocd_probes() if found is None else found


def _listing(probes: list[Probe]) -> str:
    return ", ".join(p.label for p in probes)


def choose_probe(board: Board, probes: list[Probe], wanted: str | None = None) -> Probe:
    """The probe to flash ``board`` through: the one named by serial (``wanted``), else the only
    one attached, else the only one of the board's own kind (``[flashing] probe``); more than one
    left is a one-line error listing them."""
    if not probes:
        where = "" if USB_SYSFS.is_dir() or not sys.platform.startswith("linux") else "; this machine has no USB bus"
        raise DeviceError(f"no debug probe found (looked for: {LOOKED_FOR}{where})")
    if wanted:
        match = [p for p in probes if same_serial(p.serial, wanted)]
        if not match:
            raise WorkbenchError(f"no debug probe with serial {wanted} (found: {_listing(probes)})")
        return match[0]
    if len(probes) == 1:
        return probes[0]
    kind = board.flashing.get("probe")
    mine = [p for p in probes if kind and p.name == kind]
    if len(mine) == 1:
        return mine[0]
    raise WorkbenchError(f"{len(mine or probes)} debug probes found ({_listing(mine or probes)}): pass --probe SERIAL")


def require_probe(board: Board, wanted: str | None = None) -> Probe:
    return choose_probe(board, find_probes(), wanted)


# -- west flash ---------------------------------------------------------------------------------------
def west_probe_args(runner: str, probe: Probe | None) -> list[str]:
    """Arguments that make west's ``runner`` use ``probe``, in the form that runner takes (Zephyr 4.1).
    Runners without a way to pick a probe get none (the only probe attached is then used)."""
    if probe is None or not probe.serial or not probe.serial.isascii() or not probe.serial.isalnum():
        return []
    if runner in ("jlink", "nrfjprog", "nrfutil"):     # J-Link serial numbers (nrfjprog: --snr)
        return ["--dev-id", probe.number]
    if runner == "pyocd":                              # pyOCD's unique id (-u)
        return ["--dev-id", probe.number]
    if runner == "openocd":                            # no --dev-id (4.1 rejects it): OpenOCD's own command
        return ["--cmd-pre-init", f"adapter serial {probe.serial}"]
    if runner == "stm32cubeprogrammer":                # no --dev-id: the connect string's sn=
        return ["--conn-modifiers", f"sn={probe.serial}"]
    return []


def west_runner(board: Board, runner: str | None = None) -> str:
    runner = runner or board.flashing.get("west_runner")
    if not runner:
        raise WorkbenchError(f"board {board.name} names no west runner ([flashing] west_runner): pass --runner")
    return runner


def west_flash_command(board: Board, build_dir: Path, probe: Probe | None = None, west: str = "west",
                       runner: str | None = None) -> list[str]:
    runner = west_runner(board, runner)
    return [west, "flash", "-d", str(build_dir), "--runner", runner] + west_probe_args(runner, probe)


def west_failure(lines: list[str]) -> str:
    """The line of a ``west flash`` log that says what went wrong, with what to install when a tool
    is missing."""
    text = next((l.strip() for l in lines if l.startswith(("FATAL ERROR", "ERROR:"))), None)
    text = text or next((l.strip() for l in reversed(lines) if l.strip()), "no output")
    for tool, remedy in MISSING_TOOLS.items():
        if tool in text and ("not found" in text or "No such file" in text):
            return f"{text} ({remedy})"
    return text


def west_flash(board: Board, build_dir: Path, probe: Probe, extra: dict, progress, runner: str | None = None) -> None:
    """Run ``west flash`` on a Zephyr build (``extra``: the artefact's west and workspace); its lines go
    to the progress display (runners print their own progress)."""
    cmd = west_flash_command(board, build_dir, probe, extra.get("west", "west"), runner)
    env = dict(os.environ, **({"ZEPHYR_BASE": extra["zephyr_base"]} if extra.get("zephyr_base") else {}))
    task = progress.add_task(f"west flash ({cmd[cmd.index('--runner') + 1]})", total=None)
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    except OSError as exc:
        raise WorkbenchError(f"cannot run {cmd[0]}: {exc.strerror} (pip install west)") from None
    lines = []
    for line in proc.stdout:
        lines = (lines + [line.rstrip()])[-200:]
        progress.console.print(line.rstrip(), markup=False, highlight=False)
    if proc.wait() != 0:
        raise DeviceError(f"west flash failed: {west_failure(lines)}")
    progress.update(task, total=1, completed=1)


# -- pyOCD -------------------------------------------------------------------------------------------
def _pyocd():
    """pyOCD's API, or a one-line error when it is not installed."""
    try:
        from pyocd.core import exceptions
        from pyocd.core.helpers import ConnectHelper
        from pyocd.core.session import Session
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise WorkbenchError("pyOCD is not installed in this Python environment: pip install pyocd") from None
    return type("PyOCD", (), {"ConnectHelper": ConnectHelper, "Session": Session, "FileProgrammer": FileProgrammer,
                              "Error": exceptions.Error, "TargetSupportError": exceptions.TargetSupportError})


def jlink_library_found() -> bool:
    """Whether SEGGER's J-Link library (libjlinkarm), which pyOCD drives J-Links through, loads.
    Without it pyOCD silently lists no J-Link at all."""
    try:
        import pylink
    except ImportError:
        return False
    try:
        pylink.JLink()
    except TypeError:         # pylink: "Expected to be given a valid DLL."
        return False
    except Exception:         # loaded, but something else is wrong: pyOCD will say what
        return True
    return True


def usb_accessible(probe: Probe) -> bool:
    """False when the probe's USB device node exists but this user may not open it (no udev rule)."""
    return not probe.usb_node or not os.path.exists(probe.usb_node) or os.access(probe.usb_node, os.R_OK | os.W_OK)


def pyocd_match(probe: Probe, listed: list):
    """pyOCD's probe object for ``probe`` (same serial, leading zeros ignored), or None."""
    for p in listed:
        if same_serial(p.unique_id, probe.serial) or (not probe.serial and len(listed) == 1):
            return p
    return None


def _why_pyocd_cannot_see(probe: Probe, listed: list) -> str:
    if probe.is_jlink and not jlink_library_found():
        return f"pyOCD drives a J-Link through SEGGER's J-Link library, which is not installed: {JLINK_SOFTWARE}"
    if not usb_accessible(probe):
        return f"this user may not open its USB device {probe.usb_node}: {UDEV_HINT}"
    seen = ", ".join(str(p.unique_id) for p in listed) or "none"
    return f"pyOCD lists other probes only ({seen})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def pyocd_error(exc: BaseException, probe: Probe, target: str, pack: str | None) -> DeviceError:
    """One line for an exception out of pyOCD (a missing target pack, USB permissions, a probe that
    went away)."""
    api = _pyocd()
    text = _one_line(exc)
    if isinstance(exc, api.TargetSupportError):
        install = f"pyocd pack install {pack}" if pack else "pyocd pack find <your part>, then pyocd pack install"
        return DeviceError(f"pyOCD does not know target {target}: install its CMSIS pack: {install} ({text})")
    if isinstance(exc, OSError) and (exc.errno == 13 or "ermission" in text or "Access denied" in text):
        return DeviceError(f"pyOCD may not open {probe.label}: {text}; {UDEV_HINT}")
    return DeviceError(f"pyOCD failed on {probe.label}: {text}")


def _program(listed_probe, target: str, firmware: Path, on_progress) -> None:
    """Open a pyOCD session on ``listed_probe``, program ``firmware`` and reset the target."""
    api = _pyocd()
    with api.Session(listed_probe, target_override=target) as session:
        api.FileProgrammer(session, progress=on_progress).program(str(firmware))
        session.board.target.reset()


def pyocd_flash(board: Board, firmware: Path, probe: Probe, progress) -> None:
    """Program an ELF/hex/bin with pyOCD's Python API and reset the target."""
    target = board.flashing.get("pyocd_target")
    if not target:
        raise WorkbenchError(f"board {board.name} names no pyOCD target ([flashing] pyocd_target)")
    api = _pyocd()
    listed = pyocd_listed()
    chosen = pyocd_match(probe, listed)
    if chosen is None:
        raise DeviceError(f"pyOCD could not open the probe {probe.label}: {_why_pyocd_cannot_see(probe, listed)}")
    task = progress.add_task(f"pyOCD {target}", total=100)
    try:
        _program(chosen, target, firmware, lambda f: progress.update(task, completed=100 * f))
    except (api.Error, OSError) as exc:
        raise pyocd_error(exc, probe, target, board.flashing.get("pyocd_pack")) from None
    progress.update(task, completed=100)
