"""Targets stage: start a device (emulator, board, host process), hand back its serial port, stop it.

A target also says what its counter readings mean: ``Measure`` turns a result's raw counter ticks
(or an exact count from an emulator plugin) into a metric value with its unit and source.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
from dataclasses import dataclass

from workbench.errors import WorkbenchError

# The runner's byte links: "uart", the board's UART (as on hardware), or "semihost", the same protocol
# frames through QEMU semihosting (firmware/ports/cortex-m/link_semihost.c, targets/semihost_link.py).
LINKS = ("uart", "semihost")


def check_link(link: str, fault_link=None) -> None:
    """A known link, and no fault injection unless the frames cross the UART (its proxy sits there)."""
    if link not in LINKS:
        raise WorkbenchError(f"unknown link '{link}' (have: {', '.join(LINKS)})")
    if link != "uart" and fault_link is not None:
        raise WorkbenchError(f"--fault-link damages the UART line: it does not combine with --link {link}")


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """In a child process (an emulator before exec, a sweep worker): the kernel sends it ``signum``
    when the process that started it dies, however it dies (Linux PR_SET_PDEATHSIG), so a killed run
    or sweep leaves no emulator or worker behind. Bound to the thread that started the child: start
    it from a thread that outlives it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signum)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for an emulator's serial server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def close_serial(port) -> None:
    """Close a pyserial port. For ``socket://`` ports close the socket directly: pyserial 3.5's
    ``close()`` sleeps 0.3 s "for quick reconnects", which would delay every error report."""
    sock = getattr(port, "_socket", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        port._socket = None
        port.is_open = False
    else:
        port.close()


@dataclass
class Measure:
    """How a target's per-inference cost figures are produced."""

    unit: str        # "instructions" | "cycles" | "ns"
    source: str      # one of the profile contract's metric sources
    note: str = ""


class Target:
    """Interface every target implements (used as a context manager)."""

    kind = "abstract"          # qemu | renode | hardware | micropython-unix | host
    measure: Measure
    proc = None                # the emulator process, for targets that are one (ProcessTarget)
    max_frame: int | None = None   # largest frame (bytes) the host may send, when the line limits it

    def start(self):
        """Start the device and return an open pyserial port connected to its runner."""
        raise NotImplementedError

    def alive(self) -> bool:
        return True

    def close_port(self, port) -> None:
        """Close the port ``start`` returned (the session is over or failed)."""
        close_serial(port)

    def attach(self, hello) -> None:
        """Called with the device's handshake before the session (a target whose cost source
        depends on what the device counts with sets ``measure`` here)."""

    def costs(self, ticks: list[int]) -> list[int]:
        """Per-request cost values for the requests just answered, given their counter ticks."""
        raise NotImplementedError

    # Per-inference stage and cycle-estimate reports (cm4_profile.WindowProfile), and the source of
    # their instruction counts when those are exact (None: only their cycle estimate is used).
    report_source: str | None = None
    cycle_model: dict | None = None

    def profile_reports(self) -> list:
        """One report per inference counted (QEMU's profile plugin; Renode's execution trace), in order."""
        return []

    def stage_costs(self, ticks: list[int]) -> list[float]:
        """Counter ticks of stage checkpoints (firmware built with --breakdown) in ``measure`` units:
        the counter's own ticks unless the target converts them."""
        return list(ticks)

    def describe(self) -> str:
        """A few words for progress lines: what the firmware runs on."""
        return self.kind

    def info(self) -> dict:
        """What the profile records under ``target``: at least kind and counter source."""
        return {"kind": self.kind, "counter": self.measure.source, "counter_note": self.measure.note}

    def fault(self) -> str | None:
        """A fault report the device left (emulators), or None."""
        return None

    def failure_hint(self, exc) -> str | None:
        """What to check when a session failed with ``exc`` (a target that knows more says it)."""
        return None

    def log_tail(self) -> str:
        return ""

    def stop(self) -> int | None:
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class ProcessTarget(Target):
    """A target that is an emulator process of ours (``proc``), logging to ``log_path``; killed with
    its whole process group when a session fails."""

    process_name = "the emulator"         # for messages: "QEMU exited with code 3"
    log_path = None
    log_noise: tuple[str, ...] = ()       # log lines to skip when quoting the last one

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int | None:
        """Give an exiting emulator up to ``timeout`` seconds; its exit code, or None if it still runs."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except (OSError, AttributeError):
            return ""

    def log_tail(self) -> str:
        lines = [l for l in self.log_text().splitlines() if l.strip() and not any(n in l for n in self.log_noise)]
        return lines[-1].strip() if lines else "no output"

    def kill(self) -> None:
        """Reap the emulator now (its process group, so nothing it started survives)."""
        if self.alive():
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def __exit__(self, *exc):
        self.kill() if exc[0] is not None else self.stop()
        return False
