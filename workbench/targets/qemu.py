"""QEMU (qemu-system-arm) as a target.

The guest's UART0 is a TCP server on 127.0.0.1 (``wait=on`` so nothing the guest prints is lost,
``nodelay=on`` so lock-step exchanges are not slowed by Nagle). Costs come from our TCG plugin
(exact instruction counts between the runner's markers, source ``qemu-plugin-instructions``) or,
without it, from SysTick under ``-icount shift=N``: every instruction advances virtual time by 2^N ns,
so instructions = ticks * 1e9 / (clock_hz * 2^N) (source ``qemu-icount-instructions``). Both are
instruction counts, never cycles.

On a board with two cores (mps2-an521) the plugin counts each vCPU apart; a firmware built for two
cores reports how it splits a window (HELLO), and each window's cost is then the critical path of
the two cores' counts (``workbench.targets.parallel``), with each core's own count beside it
(``core_costs``).

With ``link="semihost"`` (a firmware built with ``LINK=semihost``) the serial line is not used: the
same protocol frames travel through two FIFOs the guest reads and writes with semihosting
(``workbench.targets.semihost_link``), far faster than QEMU's UART model (docs/accuracy.md has the figures).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import serial

from workbench.boards import Board
from workbench.errors import DeviceError, WorkbenchError
from workbench.filesystem import scratch_for
from workbench.targets import Measure, ProcessTarget, check_link, die_with_parent, free_port


def qemu_binary() -> str:
    exe = shutil.which("qemu-system-arm")
    if exe is None:
        raise WorkbenchError("qemu-system-arm not found (Debian: apt-get install --no-install-recommends "
                             "qemu-system-arm)")
    return exe


def qemu_version() -> str:
    out = subprocess.run([qemu_binary(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else "unknown"


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (a reaped QEMU has released its serial port)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class QemuTarget(ProcessTarget):
    kind = "qemu"
    process_name = "QEMU"

    def __init__(self, board: Board, elf: Path, *, use_plugin: bool = True, icount_shift: int = 0,
                 workdir: Path | None = None, connect_timeout: float = 10.0, fault_link=None,
                 link: str = "uart", breakdown: bool = True, flash=None):
        """``fault_link``: a ``workbench.link.faulty.FaultSpec``; the serial line then runs through a
        fault-injecting proxy (``self.proxy``, whose ``stats`` say what it did). ``link``: "uart"
        (the board's UART, a TCP server) or "semihost" (FIFOs through semihosting). ``breakdown``
        (with the plugin): also run ``cm4_profile`` for the stages and the cycle estimate of every
        window (``self.windows``, one ``WindowProfile`` per cost reported); ``flash``: a
        ``cm4_profile.FlashModel`` instead of the board file's."""
        check_link(link, fault_link)
        self.link = link
        if not board.qemu:
            raise WorkbenchError(f"board {board.name} has no QEMU machine in its board file")
        self.board, self.elf = board, Path(elf).absolute()
        self.icount_shift = icount_shift
        # Everything this run writes (log, plugin counts, link FIFOs) goes to a folder of its own, and it
        # runs a copy of the ELF: runs of one model at once never share a file, and a rebuild of the
        # firmware while this one runs cannot change what it runs or the symbols its faults are read with.
        self.workdir = Path(workdir).absolute() if workdir else scratch_for(self, "qemu")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if workdir is None and self.elf.is_file():
            self.elf = Path(shutil.copy2(self.elf, self.workdir / "firmware.elf"))
        self.connect_timeout = connect_timeout
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.fault_link = fault_link
        self.proxy = None
        self.log_path = self.workdir / "qemu.log"
        self.counts_path = self.workdir / "insn_counts.txt"
        self._new_counts = None       # qemu_plugin.NewLines of counts_path once the plugin is set up
        self.per_vcpu = board.cores > 1
        self.two_core = None          # TwoCoreCounts once the handshake says the firmware uses two cores
        self.core_costs = []          # CoreCosts of every two-core window, in order
        self.plugin = None
        self.profile_plugin = None
        self.windows: list = []          # cm4_profile.WindowProfile per cost reported, in order
        self.cycle_model: dict | None = None
        if use_plugin:
            from workbench.targets import qemu_plugin

            self.plugin = qemu_plugin.build_plugin()
            self._new_counts = qemu_plugin.NewLines(self.counts_path)
            self.markers = qemu_plugin.find_markers(self.elf)
            self.measure = Measure("instructions", "qemu-plugin-instructions",
                                   "exact count between the runner's wb_count_begin/end markers")
            if breakdown and not self.per_vcpu:     # the stage plugin follows one core's calls
                self._setup_profile(flash)
        else:
            self.measure = Measure("instructions", "qemu-icount-instructions",
                                   f"SysTick ticks under -icount shift={icount_shift}")

    def _setup_profile(self, flash) -> None:
        """The second plugin: stages and the Cortex-M4 cycle estimate of every window."""
        from workbench.targets import cm4_profile, qemu_plugin

        self.profile_plugin = cm4_profile.build_profile_plugin()
        self.profile_map = self.workdir / "cm4_profile.map"
        self.profile_out = self.workdir / "cm4_profile.txt"
        self._new_profile_lines = qemu_plugin.NewLines(self.profile_out)
        self._profile_pending: list = []   # parsed windows read ahead of their counts
        model = cm4_profile.write_map(self.elf, self.board, self.profile_map, flash)
        # The stages count instructions on any core; the cycle model is the Cortex-M4's.
        self.cycle_model = model if self.board.cpu.startswith("cortex-m4") else None

    def _profile_windows(self, counts: list[int]) -> list:
        """The cm4_profile windows matching ``counts`` (the newest insn_count lines), checked."""
        from workbench.targets import cm4_profile

        if self.profile_plugin is None:
            return []
        self._profile_pending += [cm4_profile.parse_line(line) for line in self._new_profile_lines.read()]
        if not self.profile_out.exists():
            raise WorkbenchError(f"no cm4_profile results at {self.profile_out}: did QEMU load the plugin?")
        new, self._profile_pending = self._profile_pending[:len(counts)], self._profile_pending[len(counts):]
        cm4_profile.check_against(new, counts)
        self.windows += new
        return new

    def command(self, port: int | None) -> list[str]:
        """QEMU's command line; ``port`` None runs without a serial line (a program that exits)."""
        q = self.board.qemu
        serial_spec = f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on" if port is not None else "null"
        cmd = [qemu_binary(), "-M", q["machine"], "-cpu", q.get("cpu", "cortex-m4"), "-nodefaults",
               "-display", "none", "-monitor", "none",
               "-serial", serial_spec,
               "-semihosting-config", "enable=on,target=native",
               "-icount", f"shift={self.icount_shift},align=off,sleep=off",
               "-kernel", str(self.elf), *q.get("args", [])]
        if self.plugin is not None:
            from workbench.targets import qemu_plugin

            cmd += ["-plugin", qemu_plugin.plugin_arg(self.plugin, self.markers, self.counts_path, self.per_vcpu)]
        if self.profile_plugin is not None:
            from workbench.targets import cm4_profile

            cmd += ["-plugin", cm4_profile.plugin_arg(self.profile_plugin, self.profile_map, self.profile_out)]
        return cmd

    def start(self):
        """Launch QEMU and connect to its serial server; returns the open pyserial port."""
        if not self.elf.is_file():
            raise WorkbenchError(f"firmware {self.elf} not found")
        if self.link == "semihost":
            return self._start_semihost()
        for _attempt in range(5):
            self.port = free_port()
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(self.command(self.port), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, start_new_session=True,
                                             preexec_fn=die_with_parent)
            deadline = time.monotonic() + self.connect_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    # The first client releases the guest (wait=on); it is the one we keep.
                    return self._connect()
                except (serial.SerialException, OSError):
                    time.sleep(0.02)
            if self.proc.poll() is None:
                self.kill()
                raise DeviceError(f"QEMU did not open its serial port within {self.connect_timeout:.0f}s")
            if "Address already in use" not in self.log_text():
                raise DeviceError(f"QEMU exited at start (code {self.proc.returncode}): {self.log_tail()}")
        raise DeviceError("QEMU could not bind a free TCP port for the serial line")

    def _start_semihost(self):
        """QEMU without a serial line, in the folder that holds the link's FIFOs (the guest opens them
        by relative name); the FIFOs exist and are open on this side before QEMU starts."""
        from workbench.targets.semihost_link import FifoPort

        port = FifoPort(self.workdir)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.command(None), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.workdir,
                                         preexec_fn=die_with_parent)
        return port

    def run_to_exit(self, timeout: float = 120.0) -> list[int]:
        """Run a firmware that needs no serial link (a benchmark) until it exits; returns the
        plugin's counts, one per marker pair, in order."""
        if self.plugin is None:
            raise WorkbenchError("run_to_exit counts instructions: build the target with use_plugin=True")
        self.counts_path.unlink(missing_ok=True)
        with open(self.log_path, "wb") as log:
            proc = subprocess.run(self.command(None), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout)
        if proc.returncode != 0:
            raise DeviceError(f"{self.elf.name} exited with code {proc.returncode}: {self.fault() or self.log_tail()}")
        from workbench.targets import qemu_plugin

        if self.per_vcpu:
            return [c for v, c in qemu_plugin.read_vcpu_counts(self.counts_path) if v == 0]
        counts = qemu_plugin.read_counts(self.counts_path)
        self.windows = []
        if self.profile_plugin is not None:      # a fresh file from the first line
            self._new_profile_lines, self._profile_pending = qemu_plugin.NewLines(self.profile_out), []
        self._profile_windows(counts)
        return counts

    def _connect(self):
        if self.fault_link is None:
            return serial.serial_for_url(f"socket://127.0.0.1:{self.port}", timeout=0.05)
        from workbench.link.faulty import FaultyLink

        upstream = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
        self.proxy = FaultyLink(upstream, self.fault_link)
        return serial.serial_for_url(self.proxy.url, timeout=0.05)

    def attach(self, hello) -> None:
        if self.plugin is None and hello.counter_kind != "systick":
            raise DeviceError(f"the firmware times with its '{hello.counter_kind}' counter, which QEMU does not "
                              "advance with -icount: use the instruction-count plugin (--counter plugin)")
        if hello.cores > 1:
            if self.plugin is None:
                raise DeviceError("a two-core firmware needs the instruction-count plugin (--counter plugin): "
                                  "under -icount SysTick counts both cores' instructions on one time line")
            from workbench.targets.parallel import TwoCoreCounts

            self.two_core = TwoCoreCounts(hello.window // hello.k, hello.core0_bricks)
            self.measure = Measure("instructions", "qemu-plugin-instructions",
                                   "critical path of the two cores' exact counts (equal clocks, no contention)")

    def costs(self, ticks: list[int]) -> list[int]:
        if self.plugin is None:
            per_tick = 1e9 / (self.board.clock_hz * 2 ** self.icount_shift)
            return [int(round(t * per_tick)) for t in ticks]
        from workbench.targets import qemu_plugin

        parse = qemu_plugin.parse_vcpu_count if self.per_vcpu else qemu_plugin.parse_count
        new = [parse(line) for line in self._new_counts.read()]
        if self.two_core is not None:
            self.two_core.add(new)
            out = []
            for _ in ticks:
                c = self.two_core.next_request()
                if c.core1:
                    self.core_costs.append(c)
                out.append(c.critical)
            return out
        counts = [c for _, c in new] if self.per_vcpu else new
        if len(counts) != len(ticks):
            raise DeviceError(f"plugin reported {len(counts)} counts for {len(ticks)} inferences")
        self._profile_windows(counts)
        return counts

    report_source = "qemu-plugin-instructions"

    def profile_reports(self) -> list:
        return self.windows

    def stage_costs(self, ticks: list[int]) -> list[float]:
        """Checkpoint ticks (SysTick under -icount) as instructions, as ``costs`` converts them."""
        return [t * 1e9 / (self.board.clock_hz * 2 ** self.icount_shift) for t in ticks]

    def fault(self) -> str | None:
        """The device's fault report as one line with symbols from the ELF, or None."""
        from workbench.targets.faults import describe_fault

        return describe_fault(self.log_text(), self.elf)

    def stop(self, timeout: float = 3.0) -> int | None:
        """Wait for QEMU to exit by itself (the runner's EXIT); kill it after ``timeout`` seconds."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.proc.returncode
        finally:
            self._close_proxy()

    def kill(self) -> None:
        """Reap QEMU now (its process group, so nothing it started survives) and free its port."""
        super().kill()
        self._close_proxy()

    def _close_proxy(self) -> None:
        if self.proxy is not None:
            self.proxy.close()

    def versions(self) -> dict[str, str]:
        return {"qemu": qemu_version()}

    def describe(self) -> str:
        return f"QEMU ({self.board.qemu['machine']}" + (", semihosting link)" if self.link == "semihost" else ")")

    def info(self) -> dict:
        return {**super().info(), "machine": self.board.qemu["machine"], "link": self.link}
