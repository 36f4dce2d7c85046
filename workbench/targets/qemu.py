"""QEMU (qemu-system-arm) as a target.

The guest's UART0 is a TCP server on 127.0.0.1 (``wait=on`` so nothing the guest prints is lost,
``nodelay=on`` so lock-step exchanges are not slowed by Nagle). Costs come from our TCG plugin
(exact instruction counts between the runner's markers, source ``qemu-plugin-instructions``) or,
without it, from SysTick under ``-icount shift=N``: every instruction advances virtual time by 2^N ns,
so instructions = ticks * 1e9 / (clock_hz * 2^N) (source ``qemu-icount-instructions``). Both are
instruction counts, never cycles.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import serial

from workbench.boards import Board
from workbench.errors import DeviceError, WorkbenchError
from workbench.targets import Measure, ProcessTarget

FAULT_RE = re.compile(r"WB-FAULT .*")
FAULT_EXIT_CODE = 70


def qemu_binary() -> str:
    exe = shutil.which("qemu-system-arm")
    if exe is None:
        raise WorkbenchError("qemu-system-arm not found (Debian: apt-get install --no-install-recommends qemu-system-arm)")
    return exe


def qemu_version() -> str:
    out = subprocess.run([qemu_binary(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QemuTarget(ProcessTarget):
    kind = "qemu"

    def __init__(self, board: Board, elf: Path, *, use_plugin: bool = True, icount_shift: int = 0,
                 workdir: Path | None = None, connect_timeout: float = 10.0):
        if not board.qemu:
            raise WorkbenchError(f"board {board.name} has no QEMU machine in its board file")
        self.board, self.elf = board, Path(elf)
        self.icount_shift = icount_shift
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="wb-qemu-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.connect_timeout = connect_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log_path = self.workdir / "qemu.log"
        self.counts_path = self.workdir / "insn_counts.txt"
        self._counts_seen = 0
        self.plugin = None
        if use_plugin:
            from workbench.targets import qemu_plugin

            self.plugin = qemu_plugin.build_plugin()
            self.markers = qemu_plugin.find_markers(self.elf)
            self.measure = Measure("instructions", "qemu-plugin-instructions",
                                   "exact count between the runner's wb_count_begin/end markers")
        else:
            self.measure = Measure("instructions", "qemu-icount-instructions",
                                   f"SysTick ticks under -icount shift={icount_shift}")

    def command(self, port: int) -> list[str]:
        q = self.board.qemu
        cmd = [qemu_binary(), "-M", q["machine"], "-cpu", q.get("cpu", "cortex-m4"), "-nodefaults",
               "-display", "none", "-monitor", "none",
               "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
               "-semihosting-config", "enable=on,target=native",
               "-icount", f"shift={self.icount_shift},align=off,sleep=off",
               "-kernel", str(self.elf)]
        if self.plugin is not None:
            from workbench.targets import qemu_plugin

            cmd += ["-plugin", qemu_plugin.plugin_arg(self.plugin, self.markers, self.counts_path)]
        return cmd

    def start(self):
        """Launch QEMU and connect to its serial server; returns the open pyserial port."""
        if not self.elf.is_file():
            raise WorkbenchError(f"firmware {self.elf} not found")
        for _attempt in range(5):
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.command(self.port), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + self.connect_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    # The first client releases the guest (wait=on); it is the one we keep.
                    return serial.serial_for_url(f"socket://127.0.0.1:{self.port}", timeout=0.05)
                except serial.SerialException:
                    time.sleep(0.02)
            if self.proc.poll() is None:
                self.kill()
                raise DeviceError(f"QEMU did not open its serial port within {self.connect_timeout:.0f}s")
            if "Address already in use" not in self.log_text():
                raise DeviceError(f"QEMU exited at start (code {self.proc.returncode}): {self.log_tail()}")
        raise DeviceError("QEMU could not bind a free TCP port for the serial line")

    def attach(self, hello) -> None:
        if self.plugin is None and hello.counter_kind != "systick":
            raise DeviceError(f"the firmware times with its '{hello.counter_kind}' counter, which QEMU does not "
                              "advance with -icount: use the instruction-count plugin (--counter plugin)")

    def costs(self, ticks: list[int]) -> list[int]:
        if self.plugin is None:
            per_tick = 1e9 / (self.board.clock_hz * 2 ** self.icount_shift)
            return [int(round(t * per_tick)) for t in ticks]
        from workbench.targets import qemu_plugin

        counts = qemu_plugin.read_counts(self.counts_path) if self.counts_path.exists() else []
        new = counts[self._counts_seen:]
        self._counts_seen = len(counts)
        if len(new) != len(ticks):
            raise DeviceError(f"plugin reported {len(new)} counts for {len(ticks)} inferences")
        return new

    def fault(self) -> str | None:
        m = FAULT_RE.search(self.log_text())
        return m.group(0) if m else None

    def stop(self, timeout: float = 3.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            return self.proc.wait()

    def versions(self) -> dict[str, str]:
        return {"qemu": qemu_version()}

    def describe(self) -> str:
        return f"QEMU ({self.board.qemu['machine']})"

    def info(self) -> dict:
        return {**super().info(), "machine": self.board.qemu["machine"]}
