"""A real board as a target: the runner firmware already flashed (``workbench flash``), its UART on a
serial port of this machine, given (``--port /dev/ttyACM0``) or found by the USB ids in the board
file (``[serial] usb_ids``).

Costs come from the device's own counter, named in its handshake: DWT CYCCNT (``dwt-cycles``) or
SysTick at the core clock (``systick-cycles``).
"""

from __future__ import annotations

from workbench.boards import Board
from workbench.errors import DeviceError, WorkbenchError
from workbench.targets import Measure, Target

COUNTER_SOURCES = {"dwt": "dwt-cycles", "systick": "systick-cycles"}


def _usb_id_matches(pattern: str, vid: int | None, pid: int | None) -> bool:
    if vid is None:
        return False
    want_vid, _, want_pid = pattern.lower().partition(":")
    return int(want_vid, 16) == vid and (want_pid in ("", "*") or int(want_pid, 16) == pid)


def find_serial_port(board: Board) -> str:
    """The serial port of the first attached device whose USB id the board file lists."""
    from serial.tools import list_ports

    ids = board.serial.get("usb_ids", [])
    if not ids:
        raise WorkbenchError(f"board {board.name} lists no USB ids to find its serial port by: pass --port")
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        if any(_usb_id_matches(i, p.vid, p.pid) for i in ids):
            return p.device
    raise WorkbenchError(f"no serial port of board {board.name} found (looked for USB ids {', '.join(ids)}): "
                         "connect the board or pass --port")


class HardwareTarget(Target):
    kind = "hardware"

    def __init__(self, board: Board, port: str | None = None):
        self.board = board
        self.port_name = port or find_serial_port(board)
        self.measure = Measure("cycles", "dwt-cycles", "until the handshake names the device's counter")
        self.port = None

    def start(self):
        import serial

        try:
            self.port = serial.serial_for_url(self.port_name, baudrate=int(self.board.serial.get("baudrate", 115200)),
                                              timeout=0.05)
        except (serial.SerialException, ValueError) as exc:
            raise WorkbenchError(f"cannot open serial port {self.port_name}: {exc}") from None
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

    def stop(self) -> int | None:
        return None

    def describe(self) -> str:
        return f"the {self.board.name} on {self.port_name}"

    def info(self) -> dict:
        return {**super().info(), "port": self.port_name}
