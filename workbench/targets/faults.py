"""Device fault reports: the line a Cortex-M port prints when the core faults, made readable.

``firmware/ports/cortex-m/cm.c`` prints, through semihosting, before exiting with code 70::

    WB-FAULT exc=00000003 pc=000012a4 lr=00000f31 cfsr=00020000 hfsr=40000000 mmfar=... bfar=... excret=fffffff9

``describe_fault`` turns it into one line with the function names from the firmware's ELF (pyelftools)
and the fault status bits spelled out, e.g.::

    HardFault (forced; UsageFault: INVSTATE) at pc=0x000012a4 wb_model_infer+0x4, lr=0x00000f31
    run_measured+0x30; CFSR=0x00020000 HFSR=0x40000000
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FAULT_RE = re.compile(r"WB-FAULT\b[^\n]*")
FAULT_EXIT_CODE = 70
_FIELD_RE = re.compile(r"(\w+)=([0-9a-fA-F]+)")

EXCEPTIONS = {2: "NMI", 3: "HardFault", 4: "MemManage fault", 5: "BusFault", 6: "UsageFault", 11: "SVCall",
              12: "DebugMonitor", 14: "PendSV", 15: "SysTick"}
CFSR_BITS = {
    0: "MemManage: IACCVIOL (instruction access violation)", 1: "MemManage: DACCVIOL (data access violation)",
    3: "MemManage: MUNSTKERR", 4: "MemManage: MSTKERR", 5: "MemManage: MLSPERR",
    8: "BusFault: IBUSERR (instruction bus error)", 9: "BusFault: PRECISERR (precise data bus error)",
    10: "BusFault: IMPRECISERR (imprecise data bus error)", 11: "BusFault: UNSTKERR", 12: "BusFault: STKERR",
    13: "BusFault: LSPERR",
    16: "UsageFault: UNDEFINSTR (undefined instruction)", 17: "UsageFault: INVSTATE (invalid EPSR state)",
    18: "UsageFault: INVPC (invalid EXC_RETURN)", 19: "UsageFault: NOCP (coprocessor disabled)",
    24: "UsageFault: UNALIGNED", 25: "UsageFault: DIVBYZERO",
}
CFSR_MMARVALID, CFSR_BFARVALID = 1 << 7, 1 << 15
HFSR_BITS = {1: "VECTTBL (vector table read)", 30: "FORCED (escalated)", 31: "DEBUGEVT"}


@dataclass
class FaultReport:
    exc: int
    pc: int
    lr: int
    cfsr: int
    hfsr: int
    mmfar: int
    bfar: int
    excret: int

    @classmethod
    def parse(cls, line: str) -> "FaultReport | None":
        values = {k: int(v, 16) for k, v in _FIELD_RE.findall(line)}
        if "exc" not in values or "pc" not in values:
            return None
        return cls(**{k: values.get(k, 0) for k in cls.__dataclass_fields__})

    @property
    def exception_name(self) -> str:
        if self.exc >= 16:
            return f"unexpected interrupt IRQ{self.exc - 16}"
        return EXCEPTIONS.get(self.exc, f"exception {self.exc}")

    def causes(self) -> list[str]:
        out = [text for bit, text in CFSR_BITS.items() if self.cfsr & (1 << bit)]
        if self.cfsr & CFSR_MMARVALID:
            out.append(f"MMFAR=0x{self.mmfar:08x}")
        if self.cfsr & CFSR_BFARVALID:
            out.append(f"BFAR=0x{self.bfar:08x}")
        return out

    def describe(self, symbolize=None) -> str:
        sym = symbolize or (lambda addr: "")
        hf = [text.split(" ")[0].lower() for bit, text in HFSR_BITS.items() if self.hfsr & (1 << bit)]
        causes = self.causes()
        detail = "; ".join(filter(None, [", ".join(hf), ", ".join(causes)]))
        head = self.exception_name + (f" ({detail})" if detail else "")

        def at(addr: int) -> str:
            s = sym(addr)
            return f"0x{addr:08x}" + (f" {s}" if s else "")

        return (f"{head} at pc={at(self.pc)}, lr={at(self.lr)}; "
                f"CFSR=0x{self.cfsr:08x} HFSR=0x{self.hfsr:08x}")


class Symbolizer:
    """Address -> ``function+0xoff`` from an ELF's symbol table (Thumb bit ignored)."""

    def __init__(self, elf: Path):
        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        funcs = []
        with open(elf, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            if isinstance(symtab, SymbolTableSection):
                for s in symtab.iter_symbols():
                    if s["st_info"]["type"] == "STT_FUNC" and s.name:
                        start = s["st_value"] & ~1
                        funcs.append((start, start + max(1, s["st_size"]), s.name))
        funcs.sort()
        self._starts = [f[0] for f in funcs]
        self._funcs = funcs

    def __call__(self, addr: int) -> str:
        addr &= ~1
        i = bisect.bisect_right(self._starts, addr) - 1
        if i < 0:
            return ""
        start, end, name = self._funcs[i]
        if addr >= end:
            return ""
        return f"{name}+0x{addr - start:x}" if addr != start else name


@lru_cache(maxsize=8)
def _symbolizer(elf: str, mtime: float) -> Symbolizer:
    return Symbolizer(Path(elf))


def symbolizer_for(elf: Path | None):
    from elftools.common.exceptions import ELFError

    if elf is None:
        return None
    try:
        return _symbolizer(str(elf), Path(elf).stat().st_mtime)
    except (OSError, ELFError):   # an unreadable ELF must not hide the fault itself
        return None


def describe_fault(log_text: str, elf: Path | None = None) -> str | None:
    """The first ``WB-FAULT`` line in ``log_text`` as one readable line, or None if there is none."""
    m = FAULT_RE.search(log_text)
    if not m:
        return None
    report = FaultReport.parse(m.group(0))
    if report is None:
        return m.group(0).strip()
    return report.describe(symbolizer_for(elf))


# Zephyr's fatal error reasons (include/zephyr/fatal_types.h) below its architecture-specific codes.
ZEPHYR_REASONS = {0: "CPU exception", 1: "spurious interrupt", 2: "stack check failure", 3: "kernel oops",
                  4: "kernel panic"}
NO_REASON = 0xFFFFFFFF


def describe_fault_frame(fault: dict, elf: Path | None = None) -> str:
    """A fault frame's registers (``workbench.link.protocol.parse_fault``) as one readable line."""
    report = FaultReport(**{k: fault.get(k, 0) for k in FaultReport.__dataclass_fields__})
    text = report.describe(symbolizer_for(elf))
    reason = fault.get("reason", NO_REASON)
    if reason != NO_REASON:
        # Codes from 16 (K_ERR_ARCH_START) are the architecture's: their numbering varies between
        # Zephyr versions, and the CFSR above already says what they encode.
        text += f"; Zephyr: {ZEPHYR_REASONS.get(reason, f'Arm fault code {reason}')}"
    return text
