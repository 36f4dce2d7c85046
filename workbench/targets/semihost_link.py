"""The host end of the semihosting link (firmware built with ``LINK=semihost``; see
firmware/ports/cortex-m/link_semihost.c).

The guest reads ``wb-link.in`` and writes ``wb-link.out``, two FIFOs in QEMU's working folder, through
semihosting SYS_READ/SYS_WRITE. Protocol frames travel unchanged; only the wire differs: QEMU's UART
model takes one main-loop round per byte (~20 KiB/s), a FIFO moves a whole frame per call.

``FifoPort`` offers the part of pyserial's port that ``DeviceLink`` uses (``read``, ``write``,
``in_waiting``, ``timeout``, ``close``), so the client and its retransmission logic are the same.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import termios
from pathlib import Path

import serial

LINK_IN, LINK_OUT = "wb-link.in", "wb-link.out"     # as the guest names them (device's view)


class FifoPort:
    def __init__(self, folder: Path):
        """Make both FIFOs in ``folder`` and hold them open, before the emulator starts: the input
        read-write (so the guest's open for reading does not wait for a writer, and the guest sees
        end of file once this port closes), the output read-only and non-blocking."""
        folder = Path(folder)
        self.to_device, self.from_device = folder / LINK_IN, folder / LINK_OUT
        for path in (self.to_device, self.from_device):
            path.unlink(missing_ok=True)
            os.mkfifo(path, 0o600)
        self._rx = os.open(self.from_device, os.O_RDONLY | os.O_NONBLOCK)
        self._tx = os.open(self.to_device, os.O_RDWR | os.O_NONBLOCK)
        self.timeout: float | None = 0.05
        self.is_open = True

    @property
    def in_waiting(self) -> int:
        self._check_open()
        return struct.unpack("i", fcntl.ioctl(self._rx, termios.FIONREAD, b"\0\0\0\0"))[0]

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes; waits at most ``timeout`` seconds for the first. b"" on timeout."""
        self._check_open()
        ready, _, _ = select.select([self._rx], [], [], self.timeout)
        if not ready:
            return b""
        data = os.read(self._rx, max(1, size))
        if not data:      # the guest's end is closed: the emulator exited
            raise serial.SerialException("semihosting link closed by the emulator")
        return data

    def write(self, data: bytes) -> int:
        self._check_open()
        view = memoryview(bytes(data))
        while view:
            try:
                sent = os.write(self._tx, view)
            except BlockingIOError:
                select.select([], [self._tx], [], 0.05)     # the guest has 64 KiB unread: let it catch up
                continue
            view = view[sent:]
        return len(data)

    def _check_open(self) -> None:
        if not self.is_open:
            raise serial.PortNotOpenError()

    def close(self) -> None:
        if self.is_open:
            self.is_open = False
            for fd in (self._rx, self._tx):
                try:
                    os.close(fd)
                except OSError as exc:
                    if exc.errno != errno.EBADF:
                        raise
