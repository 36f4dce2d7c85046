"""Python side of the ``cm4_profile`` QEMU plugin (``qemu_plugin/cm4_profile.c``): per measured
window, the instructions of each stage (exact, source ``qemu-plugin-instructions``) and a Cortex-M4
cycle estimate (source ``estimate-cm4-trm``: the TRM's timing tables applied to the instructions that
ran, ``cm4_timing``; never measured cycles).

The plugin runs beside ``insn_count.c`` and brackets the same windows (``wb_count_begin/end``);
``check_against`` makes sure both plugins counted the same instructions on every window. Usage::

    plugin = build_profile_plugin()
    model = write_map(elf, board, map_path)
    qemu_args += ["-plugin", plugin_arg(plugin, map_path, out_path)]
    ...
    windows = read_windows(out_path)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.errors import DeviceError, WorkbenchError
from workbench.targets import cm4_timing
from workbench.targets.stages import PARTS, STAGES, StageMap, has_stage_table

SOURCE = Path(__file__).resolve().parent / "qemu_plugin" / "cm4_profile.c"
KINDS = {"": 0, "branch": 1, "cond": 2, "call": 3}


def build_profile_plugin(build_dir: Path | None = None) -> Path:
    from workbench.targets.qemu_plugin import build_plugin

    return build_plugin(build_dir, SOURCE)


def build_trace_tool(build_dir: Path | None = None) -> Path:
    """The same accounting as a host program over a Renode execution trace (``cm4_trace MAP TRACE OUT``)."""
    from workbench.targets.qemu_plugin import build_plugin

    return build_plugin(build_dir, SOURCE, cflags=("-DCM4_TRACE_MAIN", "-O2", "-std=c11", "-Wall", "-Wextra"),
                        suffix="-trace")


def profile_trace(map_path: Path, trace: Path, out: Path) -> list[WindowProfile]:
    """Run the trace tool over a Renode PC trace (gzip-compressed when its name ends in .gz); one
    ``WindowProfile`` per measured window."""
    import gzip
    import shutil
    import subprocess

    with subprocess.Popen([str(build_trace_tool()), str(map_path), "-", str(out)], stdin=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        try:
            with (gzip.open(trace, "rb") if str(trace).endswith(".gz") else open(trace, "rb")) as f:
                shutil.copyfileobj(f, proc.stdin, 1 << 20)
        except (OSError, EOFError) as exc:       # a trace cut short by a killed emulator: what it holds
            if not isinstance(exc, (EOFError, BrokenPipeError)) and "gzip" not in str(exc).lower():
                raise WorkbenchError(f"cannot read the trace {trace}: {exc}") from None
        finally:
            proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise WorkbenchError(f"cm4_trace failed on {trace}: {err.strip()[:300]}")
    return read_windows(out)


@dataclass(frozen=True)
class FlashModel:
    """Wait states of the memory code and constants are read from, from the board file's
    ``[timing]`` table: ``flash_wait_states`` (0: a zero-wait-state system, the TRM's own basis),
    ``flash_base``/``flash_size`` (the region they apply to), ``flash_line_bytes`` (bytes one flash
    read returns), ``flash_prefetch`` (the next sequential line is read ahead), ``flash_icache_lines``
    and ``flash_dcache_lines`` (LRU caches in front of the flash), ``source`` (where the figures come
    from)."""

    wait_states: int = 0
    base: int = 0
    size: int = 0
    line_bytes: int = 16
    prefetch: bool = False
    icache_lines: int = 0
    dcache_lines: int = 0
    source: str = "no [timing] table in the board file: zero wait states"

    @classmethod
    def from_board(cls, board) -> FlashModel:
        t = (board.extra or {}).get("timing")
        if t is None:
            return cls()
        if not isinstance(t, dict) or "flash_wait_states" not in t or "source" not in t:
            raise WorkbenchError(f"board {board.name}: [timing] needs flash_wait_states and source")
        try:
            return cls(wait_states=int(t["flash_wait_states"]), base=int(t.get("flash_base", 0)),
                       size=int(t.get("flash_size", board.flash_bytes)), line_bytes=int(t.get("flash_line_bytes", 16)),
                       prefetch=bool(t.get("flash_prefetch", False)), icache_lines=int(t.get("flash_icache_lines", 0)),
                       dcache_lines=int(t.get("flash_dcache_lines", 0)), source=str(t["source"]))
        except (TypeError, ValueError) as exc:
            raise WorkbenchError(f"board {board.name}: [timing]: {exc}") from None


def write_map(elf: Path, board, path: Path, flash: FlashModel | None = None) -> dict:
    """Write the plugin's program map for ``elf`` on ``board``; returns what the profile records
    about the cycle model."""
    from workbench.targets.qemu_plugin import find_markers

    markers = find_markers(elf)
    flash = flash or FlashModel.from_board(board)
    insns = cm4_timing.disassemble(elf)
    timings = cm4_timing.timing(insns)
    contexts = StageMap(elf).contexts(timings)
    lines = ["# cm4_profile program map (workbench/targets/cm4_profile.py)",
             f"begin {markers.begin:#x} {markers.begin_size}", f"end {markers.end:#x} {markers.end_size}"]
    if has_stage_table(elf):
        lines.append("mmio")     # stage checkpoints read SysTick inside the window (see cm4_profile.c)
    if flash.wait_states > 0:
        lines.append(f"flash {flash.base:#x} {flash.base + flash.size:#x} {flash.wait_states} {flash.line_bytes} "
                     f"{int(flash.prefetch)} {flash.icache_lines} {flash.dcache_lines}")
    for addr, t in sorted(timings.items()):
        flags = (1 if t.divide else 0) | (2 if t.load else 0)
        lines.append(f"insn {addr:x} {t.insn.size} {contexts[addr]} {t.jump} {t.seq} {t.taken} {KINDS[t.kind]} {flags}")
    Path(path).write_text("\n".join(lines) + "\n")
    return {"source": "estimate-cm4-trm", "trm": cm4_timing.TRM, "clock_hz": board.clock_hz,
            "branch_refill_P": cm4_timing.BRANCH_REFILL, "divide_cycles": cm4_timing.DIVIDE_CYCLES,
            "flash": asdict(flash)}


def plugin_arg(plugin: Path, map_path: Path, out: Path) -> str:
    from workbench.targets.qemu_plugin import _qemu_opt

    return f"file={_qemu_opt(plugin)},map={_qemu_opt(map_path)},out={_qemu_opt(out)}"


@dataclass
class WindowProfile:
    """One measured window: its instructions and estimated cycles, whole and per stage and part."""

    insns: int
    cycles: int
    taken_branches: int
    divides: int
    flash_stall: int
    unknown: int
    parts: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)   # stage -> part -> (insns, cycles)

    def stage_insns(self) -> dict[str, int]:
        return {s: sum(p[0] for p in self.parts[s].values()) for s in STAGES}

    def stage_cycles(self) -> dict[str, int]:
        return {s: sum(p[1] for p in self.parts[s].values()) for s in STAGES}

    def as_record(self) -> dict:
        """The per-window record a profile stores."""
        return {"stages": self.stage_insns(), "stage_parts": {s: {p: v[0] for p, v in self.parts[s].items()}
                                                              for s in STAGES},
                "cycles_est": self.cycles, "stage_cycles_est": self.stage_cycles(),
                "taken_branches": self.taken_branches, "divides": self.divides, "flash_stall_est": self.flash_stall}


def parse_line(line: str) -> WindowProfile:
    v = [int(x) for x in line.split()]
    if len(v) != 6 + 2 * len(STAGES) * len(PARTS):
        raise WorkbenchError(f"cm4_profile: a result line has {len(v)} fields")
    w = WindowProfile(*v[:6])
    i = 6
    for s in STAGES:
        w.parts[s] = {}
        for p in PARTS:
            w.parts[s][p] = (v[i], v[i + 1])
            i += 2
    return w


def read_windows(path: Path) -> list[WindowProfile]:
    try:
        return [parse_line(line) for line in Path(path).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise WorkbenchError(f"no cm4_profile results at {path}: did QEMU load the plugin?") from None


def check_against(windows: list[WindowProfile], counts: list[int]) -> None:
    """Both plugins saw the same windows and the stages sum to the exact count on every one."""
    if len(windows) != len(counts):
        raise DeviceError(f"cm4_profile reported {len(windows)} windows, insn_count {len(counts)}")
    for i, (w, n) in enumerate(zip(windows, counts)):
        if w.insns != n or sum(w.stage_insns().values()) != n:
            raise DeviceError(f"window {i}: the stages sum to {sum(w.stage_insns().values())} instructions and "
                              f"cm4_profile counted {w.insns}, insn_count {n}")
        if w.unknown:
            raise DeviceError(f"window {i}: {w.unknown} instructions ran that are not in the ELF's disassembly")
