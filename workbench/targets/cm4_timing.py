"""A Cortex-M4 cycle model: cycles of every instruction of an ELF from the processor's Technical
Reference Manual (ARM DDI 0439B, "Cortex-M4 Technical Reference Manual", r0p1).

The estimate applies the TRM's timing tables to the instructions that executed; it is never a
measurement (metric source ``estimate-cm4-trm``). Sections used:

- §3.3.1 "Cortex-M4 instructions", Table 3-1 "Cortex-M4 instruction set summary": cycles of every
  integer and DSP instruction on a zero-wait-state system (P: pipeline refill; N: registers in the
  list);
- §3.3.2 "Load/store timings": which neighbouring loads and stores pipeline, the extra cycle of an
  address that depends on the instruction before;
- §7.2.3 "FPU instruction set", Table 7-1 "FPU instruction set": cycles of the FPU instructions.

The tables leave two things open, and the model fixes them (each change here moves every estimate,
so both are named wherever a figure is shown):

- **P**, the refill after a taken branch, "ranges from 1 to 3 depending on the alignment and width of
  the target instruction, and whether the processor manages to speculate the address early": the
  model takes ``BRANCH_REFILL`` = 2 for every taken branch (the middle of the range; what
  bench/kernel_bench.py's hand estimate of the SMLAD loop takes). The plugin counts taken branches,
  so the spread (±1 cycle per taken branch) is known for every window.
- **SDIV/UDIV** take "2 to 12" cycles, ending early by the operands' leading zeros and ones. QEMU
  7.2's plugin interface cannot read registers, so the model charges ``DIVIDE_CYCLES`` = 12, the
  upper end (counted per window, like taken branches).

Not modelled (stated in docs/profiling.md): unaligned accesses (the kernels' buffers are 4-byte
aligned), "LDR Rx,[PC,#imm] might add a cycle" (might), interrupts, and instructions whose IT
condition fails, which are charged as if they executed (except branches, whose outcome the plugin
sees). Wait states of the memory code and constants are read from are added by the plugin from the
board file's ``[timing]`` table (``FlashModel``).

The model is the data this module computes per instruction address (``InsnTiming``): cycles when
the instruction is reached from the one before it in memory (``seq``, where the pipelining and
address-dependency rules of §3.3.2 apply) and when reached by a branch (``jump``), plus the refill
added when a conditional branch is taken. The plugin only adds these up, so the rules live here once.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

TRM = "ARM DDI 0439B (Cortex-M4 TRM r0p1)"
T31 = "§3.3.1 Table 3-1 'Cortex-M4 instruction set summary'"
L332 = "§3.3.2 'Load/store timings'"
T71 = "§7.2.3 Table 7-1 'FPU instruction set'"

BRANCH_REFILL = 2     # P: 1..3 in the TRM; the model's choice (see above)
DIVIDE_CYCLES = 12    # SDIV/UDIV: 2..12 in the TRM; the model charges the upper end

CONDS = ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")


@dataclass(frozen=True)
class Row:
    """One row of the TRM's tables as the model uses it."""

    cls: str            # instruction class, the unit of bench/cycle_model_check.py
    cycles: str         # as the TRM prints it
    cite: str           # where: table and row


# Every mnemonic the model knows, by class. The cycles of a class are computed in ``_base`` from the
# row's formula; the row text is what the TRM prints, cited so each figure can be checked.
ROWS: dict[str, Row] = {
    "alu": Row("alu", "1", f"{T31}, rows Move, Add, Subtract, Logical, Shift, Rotate, Count, Compare, Saturate, "
                           "Extend, Bit field, Reverse, If-Then"),
    "mul": Row("mul", "1", f"{T31}, rows Multiply (MUL, MLA, MLS, SMULL, UMULL, SMLAL, UMLAL)"),
    "dsp": Row("dsp", "1", f"{T31}, DSP rows (SMLAD, SMUAD, SMLA<x><y>, QADD, SADD16, PKHBT, SSAT16, ...)"),
    "div": Row("div", "2 to 12", f"{T31}, rows Divide (SDIV, UDIV); the model charges {DIVIDE_CYCLES}"),
    "ldr": Row("ldr", "2", f"{T31}, rows Load (LDR, LDRH, LDRB, LDRSH, LDRSB, LDREX); {L332}: pipelined after "
                           "a load whose result the address does not use: 1"),
    "str_reg": Row("str_reg", "2", f"{T31}, rows Store (STR, STRH, STRB, STREX) with a register offset; {L332}: "
                                   "pipelined after a load: 1"),
    "str_imm": Row("str_imm", "1", f"{L332}: 'STR Rx,[Ry,#imm] is always one cycle'"),
    "ldrd": Row("ldrd", "1 + N", f"{T31}, row Load doubleword (LDRD); {L332}: not pipelined with neighbours"),
    "strd": Row("strd", "1 + N", f"{T31}, row Store doubleword (STRD)"),
    "ldm": Row("ldm", "1 + N", f"{T31}, rows Load multiple, Pop (LDM, POP); + P when PC is loaded"),
    "stm": Row("stm", "1 + N", f"{T31}, rows Store multiple, Push (STM, PUSH)"),
    "ldr_pc": Row("ldr_pc", "2 + P", f"{T31}, row Load to PC"),
    "branch": Row("branch", "1 + P", f"{T31}, rows Branch (B, BL, BX, BLX), Move/Add to PC"),
    "branch_cond": Row("branch_cond", "1 or 1 + P", f"{T31}, rows Branch conditionally (B<cc>, CBZ, CBNZ): 1 not "
                                                    "taken, 1 + P taken"),
    "table_branch": Row("table_branch", "2 + P", f"{T31}, rows Table branch (TBB, TBH)"),
    "sys": Row("sys", "1", f"{T31}, rows State change/Barriers/Hints taken at their minimum (MRS, MSR, CPS, DMB, "
                           "DSB, NOP, PLD, SEV)"),
    "vfp": Row("vfp", "1", f"{T71}, rows VABS, VADD, VSUB, VMUL, VNMUL, VNEG, VCMP, VCVT, VMOV, VMRS, VMSR"),
    "vmov2": Row("vmov2", "2", f"{T71}, rows VMOV of two core registers"),
    "vmac": Row("vmac", "3", f"{T71}, rows VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS"),
    "vdiv": Row("vdiv", "14", f"{T71}, rows VDIV, VSQRT"),
    "vldr": Row("vldr", "2 (3 for .64)", f"{T71}, rows VLDR"),
    "vstr": Row("vstr", "2 (3 for .64)", f"{T71}, rows VSTR"),
    "vldm": Row("vldm", "1 + N (1 + 2N for .64)", f"{T71}, rows VLDM, VPOP"),
    "vstm": Row("vstm", "1 + N (1 + 2N for .64)", f"{T71}, rows VSTM, VPUSH"),
}

ALU = {"mov", "movw", "movt", "mvn", "add", "addw", "adc", "adr", "sub", "subw", "sbc", "rsb", "cmp", "cmn", "and",
       "eor", "orr", "orn", "bic", "tst", "teq", "lsl", "lsr", "asr", "ror", "rrx", "clz", "ssat", "usat", "sxtb",
       "sxth", "uxtb", "uxth", "sxtab", "sxtah", "uxtab", "uxtah", "sxtb16", "uxtb16", "sxtab16", "uxtab16", "ubfx",
       "sbfx", "bfc", "bfi", "rev", "rev16", "revsh", "rbit", "it", "neg", "cpy"}
IT_FORMS = {"it" + "".join(x) for x in
            [(), ("t",), ("e",), ("t", "t"), ("t", "e"), ("e", "t"), ("e", "e"), ("t", "t", "t"), ("t", "t", "e"),
             ("t", "e", "t"), ("t", "e", "e"), ("e", "t", "t"), ("e", "t", "e"), ("e", "e", "t"), ("e", "e", "e")]}
MUL = {"mul", "mla", "mls", "smull", "umull", "smlal", "umlal"}
DSP_PREFIXES = ("sadd", "ssub", "sasx", "ssax", "uadd", "usub", "uasx", "usax", "qadd", "qsub", "qasx", "qsax",
                "shadd", "shsub", "shasx", "shsax", "uhadd", "uhsub", "uhasx", "uhsax", "uqadd", "uqsub", "uqasx",
                "uqsax", "qdadd", "qdsub")
DSP = {"usad8", "usada8", "pkhbt", "pkhtb", "sel", "ssat16", "usat16", "umaal", "smmul", "smmulr", "smmla",
       "smmlar", "smmls", "smmlsr", "smuad", "smuadx", "smusd", "smusdx", "smlad", "smladx", "smlsd", "smlsdx",
       "smlald", "smlaldx", "smlsld", "smlsldx", "smulwb", "smulwt", "smlawb", "smlawt"} | \
      {f"{op}{a}{b}" for op in ("smul", "smla", "smlal") for a in "bt" for b in "bt"}
DIV = {"sdiv", "udiv"}
LOADS = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrt", "ldrbt", "ldrht", "ldrsbt", "ldrsht", "ldrex", "ldrexb",
         "ldrexh"}
STORES = {"str", "strb", "strh", "strt", "strbt", "strht", "strex", "strexb", "strexh"}
LDM = {"ldm", "ldmia", "ldmfd", "ldmdb", "ldmea", "pop"}
STM = {"stm", "stmia", "stmea", "stmdb", "stmfd", "push"}
BRANCHES = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}
SYS = {"nop", "mrs", "msr", "cpsid", "cpsie", "dmb", "dsb", "isb", "sev", "wfi", "wfe", "yield", "pld", "pli",
       "clrex", "bkpt", "svc", "udf"}
VFP1 = {"vabs", "vadd", "vsub", "vmul", "vnmul", "vneg", "vcmp", "vcmpe", "vcvt", "vcvtr", "vcvtb", "vcvtt", "vmov",
        "vmrs", "vmsr"}
VMAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
VDIV = {"vdiv", "vsqrt"}
VLDM = {"vldm", "vldmia", "vldmdb", "vpop"}
VSTM = {"vstm", "vstmia", "vstmdb", "vpush"}
KNOWN = (ALU | IT_FORMS | MUL | DSP | DIV | LOADS | STORES | LDM | STM | BRANCHES | SYS | VFP1 | VMAC | VDIV | VLDM
         | VSTM | {"ldrd", "strd", "vldr", "vstr"})
S_FORMS = ALU | MUL   # mnemonics that take an S (flag-setting) suffix
NO_DEST = {"cmp", "cmn", "tst", "teq", "nop"} | IT_FORMS


@dataclass(frozen=True)
class Insn:
    """One instruction of the disassembly."""

    addr: int
    size: int
    mnemonic: str     # as objdump prints it (condition and .n/.w included)
    operands: str
    function: str = ""

    @property
    def base(self) -> str:
        return split_mnemonic(self.mnemonic)[0]

    @property
    def cond(self) -> str:
        return split_mnemonic(self.mnemonic)[1]


def split_mnemonic(mnemonic: str) -> tuple[str, str]:
    """(base mnemonic, condition) of an objdump mnemonic: ``addsne.w`` -> (``add``, ``ne``),
    ``vadd.f32`` -> (``vadd``, ``""``), ``bls`` -> (``b``, ``ls``)."""
    m = mnemonic.lower().split(".")[0]
    if m in KNOWN:
        return m, ""
    if m[-2:] in CONDS and m[:-2] in KNOWN:
        return m[:-2], m[-2:]
    if m.endswith("s") and m[:-1] in S_FORMS:
        return m[:-1], ""
    if m[-2:] in CONDS and m[-3:-2] == "s" and m[:-3] in S_FORMS:
        return m[:-3], m[-2:]
    return m, ""


LINE = re.compile(r"^\s*([0-9a-f]+):\t([0-9a-f]{4}(?: [0-9a-f]{4})?|[0-9a-f]{8})\s*\t(\S+)\t?([^@;]*)")
FUNC = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")


def disassemble(elf: Path) -> list[Insn]:
    """Every instruction in the ELF's executable sections (data in code, ``.word``, left out)."""
    objdump = shutil.which("arm-none-eabi-objdump")
    if objdump is None:
        raise WorkbenchError("arm-none-eabi-objdump not found (Debian: apt-get install binutils-arm-none-eabi)")
    proc = subprocess.run([objdump, "-d", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise WorkbenchError(f"arm-none-eabi-objdump failed on {elf}: {proc.stderr.strip()[:200]}")
    out: list[Insn] = []
    function = ""
    for line in proc.stdout.splitlines():
        if (f := FUNC.match(line)) is not None:
            function = f.group(1)
            continue
        m = LINE.match(line)
        if m is None or m.group(3).startswith("."):
            continue
        raw = m.group(2)
        size = 4 if (" " in raw or len(raw) == 8) else 2
        out.append(Insn(int(m.group(1), 16), size, m.group(3), m.group(4).strip(), function))
    if not out:
        raise WorkbenchError(f"{elf}: no instructions in the disassembly")
    return out


# ---------------------------------------------------------------------------------------------- operands

REG = re.compile(r"\b(r1[0-5]|r[0-9]|sp|lr|pc|ip|fp|sl|sb)\b")
ALIASES = {"sb": "r9", "sl": "r10", "fp": "r11", "ip": "r12", "sp": "r13", "lr": "r14", "pc": "r15"}


def _reg(name: str) -> str:
    return ALIASES.get(name, name)


def _reglist(operands: str) -> list[str]:
    """Registers of a ``{...}`` list, ranges expanded (``{r4-r7}``, ``{s0-s7}``, ``{d8-d9}``)."""
    m = re.search(r"\{([^}]*)\}", operands)
    if not m:
        return []
    regs: list[str] = []
    for part in (p.strip() for p in m.group(1).split(",") if p.strip()):
        r = re.fullmatch(r"([a-z]+)(\d+)-[a-z]+(\d+)", part)
        if r:
            regs += [f"{r.group(1)}{i}" for i in range(int(r.group(2)), int(r.group(3)) + 1)]
        else:
            regs.append(_reg(part))
    return regs


def _address_regs(operands: str) -> set[str]:
    """Registers an access's address is computed from: inside ``[...]``, or the base of LDM/STM."""
    m = re.search(r"\[([^\]]*)\]", operands)
    if m:
        return {_reg(r) for r in REG.findall(m.group(1))}
    base = operands.split(",")[0].strip().rstrip("!")
    return {_reg(base)} if REG.fullmatch(base) else set()


def _first_regs(operands: str, n: int) -> list[str]:
    parts = [p.strip() for p in operands.split(",")][:n]
    return [_reg(p) for p in parts if REG.fullmatch(p)]


def writes(insn: Insn) -> set[str]:
    """Core registers a data-processing instruction writes (for the address-dependency rule)."""
    base = insn.base
    if base in NO_DEST or base in BRANCHES or base in SYS - {"mrs"}:
        return set()
    if base in ("smull", "umull", "smlal", "umlal", "umaal") or base.startswith(("smlal", "smlsl")):
        return set(_first_regs(insn.operands, 2))
    if base in ("vmov", "vmrs"):
        return set(_first_regs(insn.operands, 2))        # only core registers match REG
    if base.startswith("v"):
        return set()
    return set(_first_regs(insn.operands, 1))


# ---------------------------------------------------------------------------------------------- timing

@dataclass(frozen=True)
class InsnTiming:
    """What the plugin needs of one instruction."""

    insn: Insn
    cls: str          # a key of ROWS
    jump: int         # cycles when reached by a branch (or first after the window opens)
    seq: int          # cycles when reached from the instruction before it in memory
    taken: int        # cycles added when this conditional branch is taken (P), else 0
    kind: str         # "" | "branch" (unconditional) | "cond" | "call" (BL/BLX)
    divide: bool = False
    load: bool = False   # reads data memory (for the board's flash wait states)


def classify(insn: Insn) -> tuple[str, int]:
    """(class, cycles at zero wait states when not pipelined) of one instruction. Taken-branch refills
    of unconditional branches are included; a conditional branch's refill is ``InsnTiming.taken``."""
    base, ops = insn.base, insn.operands.lower()
    P = BRANCH_REFILL
    if base in LOADS:
        dest = _first_regs(ops, 1)
        return ("ldr_pc", 2 + P) if dest == ["r15"] else ("ldr", 2)
    if base in STORES:
        inside = re.search(r"\[([^\]]*)\]", ops)
        reg_offset = inside is not None and len(REG.findall(inside.group(1))) > 1
        return ("str_reg", 2) if reg_offset else ("str_imm", 1)
    if base == "ldrd":
        return "ldrd", 3
    if base == "strd":
        return "strd", 3
    if base in LDM:
        regs = _reglist(ops)
        return "ldm", 1 + len(regs) + (P if "r15" in regs else 0)
    if base in STM:
        return "stm", 1 + len(_reglist(ops))
    if base in ("tbb", "tbh"):
        return "table_branch", 2 + P
    if base in BRANCHES:
        return ("branch_cond", 1) if base in ("cbz", "cbnz") or insn.cond else ("branch", 1 + P)
    if base in ("mov", "add") and _first_regs(ops, 1) == ["r15"]:
        return "branch", 1 + P
    if base in DIV:
        return "div", DIVIDE_CYCLES
    if base in MUL:
        return "mul", 1
    if base in DSP or base.startswith(DSP_PREFIXES):
        return "dsp", 1
    if base in ALU or base in IT_FORMS:
        return "alu", 1
    if base in SYS:
        return "sys", 1
    if base == "vldr":
        return "vldr", 3 if re.match(r"\s*d\d", ops) else 2
    if base == "vstr":
        return "vstr", 3 if re.match(r"\s*d\d", ops) else 2
    if base in VLDM or base in VSTM:
        regs = _reglist(ops)
        n = len(regs) * (2 if regs and regs[0].startswith("d") else 1)
        return ("vldm" if base in VLDM else "vstm"), 1 + n
    if base in VMAC:
        return "vmac", 3
    if base in VDIV:
        return "vdiv", 14
    if base == "vmov":
        core = [r for r in REG.findall(ops)]
        return ("vmov2", 2) if len(core) == 2 else ("vfp", 1)
    if base in VFP1:
        return "vfp", 1
    raise WorkbenchError(f"the Cortex-M4 cycle model has no TRM row for '{insn.mnemonic} {insn.operands}' "
                         f"at {insn.addr:#x} ({insn.function})")


SINGLE_LOADS = LOADS      # the loads that pipeline with a following load or store (§3.3.2)
SINGLE_ACCESSES = LOADS | STORES


def _writes_pc(insn: Insn, cls: str) -> bool:
    return cls in ("branch", "branch_cond", "table_branch", "ldr_pc") or \
        (cls == "ldm" and "r15" in _reglist(insn.operands.lower()))


def timing(insns: list[Insn]) -> dict[int, InsnTiming]:
    """The model's figures for every instruction, by address."""
    out: dict[int, InsnTiming] = {}
    prev: Insn | None = None
    prev_cls = ""
    for insn in insns:
        cls, base_cycles = classify(insn)
        seq = base_cycles
        sequential = prev is not None and prev.addr + prev.size == insn.addr
        if sequential and insn.base in SINGLE_ACCESSES and cls != "ldr_pc":
            addr_regs = _address_regs(insn.operands.lower())
            if prev.base in SINGLE_LOADS and prev_cls == "ldr":
                # §3.3.2: "if the next instruction is an LDR or STR, and the destination of the first LDR is
                # not used to compute the address for the next instruction, then one cycle is removed".
                if not (set(_first_regs(prev.operands.lower(), 1)) & addr_regs):
                    seq = max(1, seq - 1)
        if sequential and (insn.base in SINGLE_ACCESSES | LDM | STM | VLDM | VSTM | {"ldrd", "strd", "vldr", "vstr"}):
            # §3.3.2: "Any load or store that generates an address dependent on the result of a preceding
            # data processing operation stalls the pipeline for an additional cycle".
            implicit_sp = {"r13"} if insn.base in ("push", "pop", "vpush", "vpop") else set()
            addr_regs = _address_regs(insn.operands.lower()) | implicit_sp
            if prev_cls in ("alu", "mul", "dsp", "div", "vfp", "vmov2") and writes(prev) & addr_regs:
                seq += 1
        kind = ""
        if insn.base in ("bl", "blx"):
            kind = "call"
        elif _writes_pc(insn, cls):
            kind = "cond" if (cls == "branch_cond" or insn.cond) else "branch"
        taken = BRANCH_REFILL if kind == "cond" else 0
        if kind == "cond" and cls != "branch_cond":
            base_cycles -= BRANCH_REFILL            # an IT-conditional BX/POP {pc}: refill only when taken
            seq -= BRANCH_REFILL
        out[insn.addr] = InsnTiming(insn, cls, base_cycles, seq, taken, kind, divide=cls == "div",
                                    load=cls in ("ldr", "ldrd", "ldm", "ldr_pc", "vldr", "vldm", "table_branch"))
        prev, prev_cls = insn, cls
    return out
