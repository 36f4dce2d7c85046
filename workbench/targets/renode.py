"""Renode as a target, for boards whose file names a Renode platform (nrf52840).

Each run writes two files to its work folder and starts Renode headless on them:

- ``<board>.repl``, the platform: the board file's Renode platform read from Renode's own
  ``platforms/`` tree, without its network lines (the stock ``nrf52840.repl`` downloads an SVD file
  at load), plus a ``Miscellaneous.DWT`` at 0xE0001000 counting at the board's clock (the stock
  nRF52840 has no DWT, and the Zephyr build measures with DWT CYCCNT). Platforms it includes with
  ``using`` are cleaned the same way.
- ``<board>.resc``, the script: machine, platform, ``PerformanceInMips``, the UART on a
  host-local terminal, the ELF. ``renode <board>.resc`` runs it by hand.

The UART is a pty (``CreateUartPtyTerminal``), opened like any serial port. Renode 1.15's socket
terminal listens on every interface (0.0.0.0) and takes no address; a pty is reachable from this
machine only and needs no free TCP port.

Costs are DWT CYCCNT deltas. In Renode the DWT counts virtual time at its frequency, and virtual
time advances by one instruction per 1/PerformanceInMips microseconds; with PerformanceInMips set
to the clock in MHz a "cycle" is one executed instruction. Source ``renode-virtual-time``: a
count of Renode's virtual time, not the cycles of a real core. A read is only as fine as Renode's
time synchronisation: seen here, within one 100 us quantum (6,400 counts at 64 MHz) of the exact
instruction count.

The Cortex-M4 cycle estimate (source ``estimate-cm4-trm``, as under QEMU) comes from an execution
trace: Renode writes the PC of every instruction it runs (``CreateExecutionTracing``, binary, gzip)
and after the session ``cm4_profile``'s trace tool applies the cycle model to the measured windows
(``profile_reports``). The trace costs about 5 bytes an instruction before compression. Renode's
tracer decodes instruction lengths with its LLVM disassembler library (``libllvm-disas``, shipped
with Renode's packages, a prebuilt binary a source build fetches): where it is missing the session
runs untraced and the profile says why (``trace_missing``).

Renode 1.15's nRF52840 UARTE model can lose a received byte: one that arrives between Zephyr's
driver clearing ENDRX and triggering STARTRX is written past the one-byte DMA buffer. The
protocol's CRC and retransmission recover it; the profile's link counters show how often.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from workbench.boards import Board
from workbench.errors import DeviceError, WorkbenchError
from workbench.filesystem import plain_path, scratch_for
from workbench.targets import Measure, ProcessTarget

INSTALL_HINT = ("install it (https://renode.io, e.g. the renode_1.15.3_amd64.deb release) so `renode` is on "
                "PATH, or pass --renode PATH (or set RENODE)")
DWT_ADDRESS = 0xE0001000
NETWORK_LINE = re.compile(r"^\s*\w+\s+@?https?://", re.I)         # e.g. "ApplySVD @https://..."
USING_LINE = re.compile(r'^(\s*using\s+")([^"]+)(".*)$')


def renode_command(explicit: str | None = None) -> list[str]:
    """How to start Renode: --renode PATH, else $RENODE, else `renode` on PATH. A Renode.exe
    (a source build, or the Mono portable package) is started with mono."""
    given = explicit or os.environ.get("RENODE")
    path = given or shutil.which("renode")
    if not path:
        raise WorkbenchError(f"Renode not found: {INSTALL_HINT}")
    if not Path(path).exists():
        raise WorkbenchError(f"Renode not found at {path}: {INSTALL_HINT}")
    if path.lower().endswith(".exe"):
        mono = shutil.which("mono")
        if mono is None:
            raise WorkbenchError(f"{path} needs Mono to run (Debian: apt-get install --no-install-recommends "
                                 "mono-runtime), or use Renode's own package")
        return [mono, str(Path(path).resolve())]
    return [str(Path(path).resolve())]


def renode_root(command: list[str]) -> Path:
    """Renode's installation folder: the one above its binary that holds platforms/cpus."""
    exe = Path(os.path.realpath(command[-1]))
    for d in [*exe.parents, Path("/opt/renode")]:
        if (d / "platforms" / "cpus").is_dir():
            return d
    raise WorkbenchError(f"cannot find Renode's platforms/ folder near {exe}")


def _clean_platform(src: Path, root: Path, out_dir: Path, written: dict[Path, Path]) -> Path:
    """Copy ``src`` into ``out_dir`` without network lines; `using` targets are cleaned too."""
    if src in written:
        return written[src]
    dest = out_dir / "platforms" / src.name
    written[src] = dest
    lines = []
    for line in src.read_text().splitlines():
        if NETWORK_LINE.match(line):
            lines.append(f"        // workbench: dropped (needs the network): {line.strip()}")
            continue
        m = USING_LINE.match(line)
        if m:
            inner = _resolve(m.group(2), root, src.parent)
            line = f"{m.group(1)}{_clean_platform(inner, root, out_dir, written)}{m.group(3)}"
        lines.append(line)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("\n".join(lines) + "\n")
    return dest


def _resolve(name: str, root: Path, here: Path) -> Path:
    for base in (root, here, Path.cwd()):
        p = (base / name.lstrip("@")).resolve()
        if p.is_file():
            return p
    raise WorkbenchError(f"Renode platform '{name}' not found under {root}")


def write_platform(board: Board, root: Path, out_dir: Path) -> Path:
    """The board's platform, offline, with a DWT at the board's clock."""
    r = board.emulators["renode"]
    body = _clean_platform(_resolve(r["platform"], root, Path.cwd()), root, out_dir, {})
    repl = out_dir / f"{board.name}.repl"
    repl.write_text(f'// {board.name} for workbench: {r["platform"]} (offline) + a DWT cycle counter\n'
                    f'using "{body}"\n\n'
                    f"dwt: Miscellaneous.DWT @ sysbus {DWT_ADDRESS:#x}\n"
                    f"    frequency: {board.clock_hz}\n")
    return repl


# Firmware with stage checkpoints (--breakdown) reads the DWT at every kernel call: Renode's default
# time quantum (100 us, 6,400 counts at 64 MHz) would round most readings away; 1 us resolves 64
# counts and runs such a session about seven times slower (seen here: 10 s a BasicMotions window).
CHECKPOINT_QUANTUM = "0.000001"


def write_script(board: Board, elf: Path, repl: Path, pty: Path, out_dir: Path, quantum: str | None = None) -> Path:
    r = board.emulators["renode"]
    cpu = r.get("cpu", "sysbus.cpu")
    mips = int(r.get("performance_mips", board.clock_hz // 1_000_000))
    resc = out_dir / f"{board.name}.resc"
    resc.write_text(
        f"# {board.name} for workbench (generated): the runner firmware with its UART on a pty\n"
        + (f'emulation SetGlobalQuantum "{quantum}"\n' if quantum else "") +
        f'mach create "{board.name}"\n'
        f"machine LoadPlatformDescription @{plain_path(repl)}\n"
        f"{cpu} PerformanceInMips {mips}\n"
        f'emulation CreateUartPtyTerminal "wb_uart" "{plain_path(pty.parent)}/{pty.name}"\n'
        f"connector Connect {r.get('uart', 'sysbus.uart0')} wb_uart\n"
        f"sysbus LoadELF @{plain_path(Path(elf).resolve())}\n")
    return resc


def has_disassembler(command: list[str], root: Path) -> bool:
    """Renode's LLVM disassembler library is there (its execution tracer needs it)."""
    here = Path(os.path.realpath(command[-1])).parent
    return any(any(d.glob("libllvm-disas*.so*")) for d in (here, root, root / "bin") if d.is_dir())


class RenodeTarget(ProcessTarget):
    kind = "renode"
    process_name = "Renode"
    log_noise = ("[WARNING]",)

    def __init__(self, board: Board, elf: Path, *, renode: str | None = None, workdir: Path | None = None,
                 start_timeout: float = 180.0, trace: bool = True):
        """``trace``: record the executed PCs for the Cortex-M4 cycle estimate (Cortex-M4 boards)."""
        if "renode" not in board.emulators:
            raise WorkbenchError(f"board {board.name} has no Renode platform in its board file")
        self.board, self.elf = board, Path(elf)
        self.command = renode_command(renode)
        self.root = renode_root(self.command)
        self.workdir = Path(workdir).resolve() if workdir else scratch_for(self, "renode")   # this run's alone
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "renode.log"
        self.pty = self.workdir / "uart.pty"
        self._hold: int | None = None
        self.mips = int(board.emulators["renode"].get("performance_mips", board.clock_hz // 1_000_000))
        self.trace_missing = None if has_disassembler(self.command, self.root) else \
            f"no libllvm-disas beside {self.command[-1]}: Renode cannot trace, no cycle estimate"
        self.trace = trace and board.cpu.startswith("cortex-m4") and self.trace_missing is None
        self.trace_path = self.workdir / "trace.bin.gz"
        self._reports: list | None = None
        self.measure = Measure("cycles", "renode-virtual-time",
                               f"DWT CYCCNT added at {DWT_ADDRESS:#x}, counting Renode's virtual time at "
                               f"{board.clock_hz} Hz with PerformanceInMips {self.mips}: one per instruction "
                               "executed, not a cycle-accurate core; reads resolve Renode's time "
                               "synchronisation (within a 100 us quantum)")

    def start(self):
        import serial

        if not self.elf.is_file():
            raise WorkbenchError(f"firmware {self.elf} not found")
        tmp = self.workdir / "tmp"      # Renode deletes stale renode-* folders in TMPDIR: give it its own
        tmp.mkdir(parents=True, exist_ok=True)
        self.pty.unlink(missing_ok=True)
        repl = write_platform(self.board, self.root, self.workdir)
        from workbench.targets.stages import has_stage_table

        quantum = CHECKPOINT_QUANTUM if has_stage_table(self.elf) else None
        resc = write_script(self.board, self.elf, repl, self.pty, self.workdir, quantum)
        cmd = [*self.command, "--console", "--disable-xwt", "--plain", "-e", "version", "-e",
               f"include @{plain_path(resc)}"]
        if self.trace:
            self.trace_path.unlink(missing_ok=True)
            cpu = self.board.emulators["renode"].get("cpu", "sysbus.cpu")
            cmd += ["-e", f'{cpu} CreateExecutionTracing "wb_trace" @{plain_path(self.trace_path.parent)}/'
                          f'{self.trace_path.name} PC true true']
        cmd += ["-e", "start"]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env=dict(os.environ, TMPDIR=str(tmp)),
                                         start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while not self.pty.exists():
            if self.proc.poll() is not None:
                raise DeviceError(f"Renode exited at start (code {self.proc.returncode}): {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise DeviceError(f"Renode did not open the UART within {self.start_timeout:.0f}s: {self.log_tail()}")
            time.sleep(0.2)
        # A second handle on the pty, never read, held until Renode has quit: when the session's port
        # closes first, Renode's reader would otherwise get EIO and die with a fatal exception.
        self._hold = os.open(self.pty, os.O_RDWR | os.O_NOCTTY)
        try:
            return serial.Serial(str(self.pty), timeout=0.05)
        except serial.SerialException as exc:
            self.kill()
            raise DeviceError(f"cannot open Renode's UART {self.pty}: {exc}") from None

    def costs(self, ticks: list[int]) -> list[int]:
        return list(ticks)

    def profile_reports(self) -> list:
        """The cycle model over the execution trace, one report per measured window (after the session:
        Renode flushes the trace when it quits)."""
        if not self.trace or self.proc is None or self.proc.poll() is None or not self.trace_path.exists():
            return []
        if self._reports is None:
            from workbench.targets import cm4_profile

            map_path = self.workdir / "cm4_profile.map"
            self.cycle_model = cm4_profile.write_map(self.elf, self.board, map_path)
            self._reports = cm4_profile.profile_trace(map_path, self.trace_path, self.workdir / "cm4_trace.txt")
            self.trace_path.unlink(missing_ok=True)        # the figures are kept; the trace is large
        return self._reports

    def fault(self) -> str | None:
        m = re.search(r".*(CPU abort|Fatal error).*", self.log_text())
        return m.group(0).strip() if m else None

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            self._release()
            return None if self.proc is None else self.proc.returncode
        try:
            self.proc.stdin.write(b"quit\n")
            self.proc.stdin.flush()
            return self.proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
            return self.proc.returncode
        finally:
            self._release()

    def kill(self) -> None:
        super().kill()
        self._release()

    def _release(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None

    def versions(self) -> dict[str, str]:
        m = re.search(r"Renode, version (\S+)", self.log_text())
        return {"renode": m.group(1) if m else "unknown"}

    def describe(self) -> str:
        return f"Renode ({self.board.emulators['renode']['platform']} + DWT)"

    def info(self) -> dict:
        r = self.board.emulators["renode"]
        out = {**super().info(), "platform": r["platform"], "performance_mips": self.mips,
               "dwt_hz": self.board.clock_hz, "script": str(self.workdir / f"{self.board.name}.resc")}
        if self.trace_missing:
            out["trace_missing"] = self.trace_missing
        return out
