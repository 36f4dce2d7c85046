"""A real board as a target: the runner firmware already flashed (``workbench flash``), its UART on a
serial port of this machine, given (``--port /dev/ttyACM0``) or found by the USB ids in the board
file (``[serial] usb_ids``).

Which port: the ports whose USB id the board file lists, narrowed to one USB device (a second board,
or a second probe, is a one-line error listing them) and, on a device with several serial ports, to
the board file's ``usb_interface``. ``port_of_probe`` finds the port on a debug probe's own USB
device (same USB serial number), which is how ``flash`` names the port to run on.

The port is opened exclusively (a terminal or ModemManager reading the same port would steal bytes)
and with a write timeout (a stalled USB link fails the write instead of blocking past every
deadline). Some USB serial bridges cannot carry the protocol's largest frames: the frame size is
capped by the adapter's USB id (``FRAME_LIMITS``), keeping the protocol's contract (each WRITE chunk
acknowledged, never larger than the device's buffer), only smaller.

Costs come from the device's own counter, named in its handshake: DWT CYCCNT (``dwt-cycles``) or
SysTick at the core clock (``systick-cycles``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from workbench.boards import Board
from workbench.errors import DeviceError, WorkbenchError
from workbench.targets import Measure, Target

COUNTER_SOURCES = {"dwt": "dwt-cycles", "systick": "systick-cycles"}
WRITE_TIMEOUT = 2.0          # seconds one write may block (a frame takes ~25 ms at 115200 baud)
JLINK_MSD_REMEDY = ("disable the J-Link's mass-storage drive: run JLinkExe, type MSDDisable, then unplug and "
                    "replug the board")
# USB vendor id -> (largest frame the host sends, in bytes with its delimiters; why).
FRAME_LIMITS = {
    0x1366: (64, "SEGGER J-Link OB virtual COM port: transfers over 64 bytes are dropped or corrupted while its "
                 "mass-storage drive is enabled (Zephyr's nordic_segger notes)"),
}


@dataclass
class SerialPort:
    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    interface: int | None = None     # USB interface number (Linux: from the port's location)
    description: str = ""

    @property
    def usb(self) -> str:
        return f"{self.vid:04x}:{self.pid:04x}" if self.vid is not None else "no USB id"


def _interface(location: str | None) -> int | None:
    m = re.search(r":\d+\.(\d+)$", location or "")
    return int(m.group(1)) if m else None


def serial_ports() -> list[SerialPort]:
    """The serial ports of this machine with their USB ids, serial numbers and interfaces."""
    from serial.tools import list_ports

    return [SerialPort(p.device, p.vid, p.pid, getattr(p, "serial_number", None),
                       _interface(getattr(p, "location", None)), getattr(p, "description", "") or "")
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]


def _usb_id_matches(pattern: str, vid: int | None, pid: int | None) -> bool:
    if vid is None:
        return False
    want_vid, _, want_pid = pattern.lower().partition(":")
    return int(want_vid, 16) == vid and (want_pid in ("", "*") or int(want_pid, 16) == pid)


def _wiring(board: Board) -> str:
    note = board.serial.get("wiring")
    return f"; {note}" if note else ""


def _one_per_device(board: Board, ports: list[SerialPort]) -> SerialPort:
    """The one port among ``ports`` (all of the board's USB ids) the runner talks on."""
    devices = sorted({p.serial_number or p.device for p in ports})
    if len(devices) > 1:
        listing = ", ".join(f"{p.device} (USB {p.usb}, serial {p.serial_number or '?'})" for p in ports)
        raise WorkbenchError(f"{len(devices)} USB devices look like board {board.name} ({listing}): pass --port")
    interface = board.serial.get("usb_interface")
    if interface is not None:
        ports = [p for p in ports if p.interface == int(interface)] or ports
    if len(ports) > 1:
        listing = ", ".join(f"{p.device} (interface {p.interface})" for p in ports)
        raise WorkbenchError(f"board {board.name}'s USB device has {len(ports)} serial ports ({listing}): pass --port "
                             "(or name its usb_interface in the board file's [serial])")
    return ports[0]


def find_serial_port(board: Board, ports: list[SerialPort] | None = None) -> str:
    """The serial port of the one attached device whose USB id the board file lists."""
    ids = board.serial.get("usb_ids", [])
    if not ids:
        raise WorkbenchError(f"board {board.name} lists no USB ids to find its serial port by: "
                             f"{board.serial.get('wiring') or 'pass --port'}")
    ports = serial_ports() if ports is None else ports
    found = [p for p in ports if any(_usb_id_matches(i, p.vid, p.pid) for i in ids)]
    if not found:
        raise WorkbenchError(f"no serial port of board {board.name} found (looked for USB ids {', '.join(ids)})"
                             f"{_wiring(board)}: connect the board or pass --port")
    return _one_per_device(board, found).device


def port_of_probe(board: Board, probe, ports: list[SerialPort] | None = None) -> str | None:
    """The board's serial port on the debug probe's own USB device (same USB serial number), or None
    (a probe without a virtual COM port, or a board whose UART is wired elsewhere)."""
    from workbench.targets.probe import same_serial

    if not probe.serial or not board.serial.get("usb_ids"):
        return None
    ports = serial_ports() if ports is None else ports
    mine = [p for p in ports if same_serial(p.serial_number, probe.serial)]
    if not mine:
        return None
    try:
        return _one_per_device(board, mine).device
    except WorkbenchError:
        return None


def port_info(device: str, ports: list[SerialPort] | None = None) -> SerialPort:
    """What this machine knows of the port ``device`` (a path, a /dev/serial/by-id link, or a URL)."""
    ports = serial_ports() if ports is None else ports
    real = os.path.realpath(device) if device.startswith("/") else device
    return next((p for p in ports if p.device in (device, real)), SerialPort(device))


def frame_limit(port: SerialPort) -> tuple[int | None, str]:
    """The largest frame (bytes) the host may send through this adapter, and why; (None, "") for no limit."""
    return FRAME_LIMITS.get(port.vid, (None, "")) if port.vid is not None else (None, "")


def open_serial(device: str, baudrate: int):
    """Open a serial port for the protocol: exclusive, with a write timeout; one-line errors."""
    import serial

    try:
        return serial.serial_for_url(device, baudrate=baudrate, timeout=0.05, write_timeout=WRITE_TIMEOUT,
                                     exclusive=True)
    except (serial.SerialException, ValueError, OSError) as exc:
        text = str(exc)
        if "exclusively lock" in text or "Resource temporarily unavailable" in text:
            raise WorkbenchError(f"serial port {device} is in use by another program (a terminal, ModemManager): "
                                 "close it (docs/boards.md, 'ModemManager')") from None
        if "Permission denied" in text or getattr(exc, "errno", None) == 13:
            raise WorkbenchError(f"no permission to open {device}: add yourself to its group (sudo usermod -aG "
                                 "dialout $USER, then log in again)") from None
        raise WorkbenchError(f"cannot open serial port {device}: {text}") from None


class HardwareTarget(Target):
    kind = "hardware"

    def __init__(self, board: Board, port: str | None = None, ports: list[SerialPort] | None = None):
        self.board = board
        self.port_name = port or find_serial_port(board, ports)
        self.usb = port_info(self.port_name, ports)
        self.max_frame, self.frame_note = frame_limit(self.usb)
        self.measure = Measure("cycles", "dwt-cycles", "until the handshake names the device's counter")
        self.port = None

    def start(self):
        self.port = open_serial(self.port_name, int(self.board.serial.get("baudrate", 115200)))
        self.port.reset_input_buffer()
        return self.port

    def attach(self, hello) -> None:
        source = COUNTER_SOURCES.get(hello.counter_kind)
        if source is None:
            raise DeviceError(f"the device measures with its '{hello.counter_kind}' counter, not cycles: build it "
                              "with a cycle counter (Zephyr: CONFIG_CORTEX_M_DWT=y)")
        self.measure = Measure("cycles", source, f"{hello.counter_kind} counter of the device at "
                                                 f"{hello.counter_hz} Hz (board {hello.board})")

    def costs(self, ticks: list[int]) -> list[int]:
        return list(ticks)

    def failure_hint(self, exc: DeviceError) -> str | None:
        """What to check when a session on this port failed: silence means no runner on this port;
        damaged frames through a J-Link OB mean its mass-storage drive."""
        if getattr(exc, "silent", False):
            return (f"is the runner flashed (workbench flash --board {self.board.name} --model ...) and is "
                    f"{self.port_name} the board's UART?{_wiring(self.board)}")
        if getattr(exc, "silent", None) is False and self.usb.vid == 0x1366:
            return JLINK_MSD_REMEDY
        return None

    def stop(self) -> int | None:
        return None

    def describe(self) -> str:
        return f"the {self.board.name} on {self.port_name}"

    def info(self) -> dict:
        out = {**super().info(), "port": self.port_name, "usb_id": self.usb.usb}
        if self.max_frame:
            out.update(max_frame=self.max_frame, max_frame_note=self.frame_note)
        return out
