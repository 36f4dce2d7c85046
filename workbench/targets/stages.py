"""Where each instruction's cost belongs: the stage map of a firmware ELF.

A stage is a part of an inference: ``lower`` (the lower level: the cell run over each brick),
``upper`` (the upper level over the brick outputs), ``head`` (the classifier), ``io`` (the runner
and the model glue around the kernel) and ``other`` (the rest: the composition's loops, the brick
ring, library code called from them). Each stage is split further into ``mac`` (matrix products)
and ``act`` (everything else: activations, requantization, state updates).

Stages come from function names, not from a fixed list of symbols, so the map survives new kernel
functions: every function on an instruction's call chain is matched against ``NAME_RULES`` (its
name) and ``FILE_RULES`` (its source file), and the chain includes functions the compiler inlined
(their address ranges come from the ELF's DWARF, ``DW_TAG_inlined_subroutine``), so a ``run_cell``
inlined into ``sharnn_q15_infer`` still marks its instructions as the lower level.

The rule along a chain, outermost call first: the first function that names a level (``lower``,
``upper``, ``head``) decides, and owns everything it calls ("callees included"); a *cell step*
(``..._cell_step``, ``lstm_step``, ...) reached outside the lower level is the upper level (in a
ShaRNN the same cell-step function runs both levels: what tells them apart is whether the lower
level's brick loop is on the call chain). Below no level, runner and glue code is ``io``, kernel
code is ``other``, and library code (``memcpy``) belongs to its caller.

The QEMU plugin (``qemu_plugin/cm4_profile.c``) applies the same rule at run time over the real call
stack: this module gives it, per instruction, the *local* context (the fold of the rule over the
function and what is inlined at that address), and the plugin folds that into the context the call
inherited (``resolve``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

STAGES = ("lower", "upper", "head", "io", "other")
PARTS = ("mac", "act")
LEVELS = ("lower", "upper", "head")          # stages that own their callees

# Context codes shared with cm4_profile.c: a stage index, or LIB (belongs to the caller); MAC_BIT marks
# an instruction of a matrix product.
LIB = 7
MAC_BIT = 8
CELL = "cell"

# (what, pattern on a function's name): the first that matches names the function's role.
NAME_RULES: tuple[tuple[str, str], ...] = (
    ("head", r"classif|(^|_)head($|_)|(^|_)fc($|_)|logits|readout|dense"),
    ("lower", r"lower|run_cell|brick|level0"),
    ("upper", r"upper|level1"),
    (CELL, r"cell_step|(^|_)(lstm|gru|fastgrnn|mingru|minlstm|durnn|rnn)(_module)?_step"),
)
# Matrix-product code, by name (a function on the chain that matches makes the instruction "mac").
MAC_RULE = r"matvec|matmul|gemv|(^|_)dot(\d|_|$)|(^|_)mac(_|$)"
# (stage, pattern on the source file path, pattern on the name) for functions that name no level.
FILE_RULES: tuple[tuple[str, str, str], ...] = (
    ("io", r"firmware/(runner|ports)/|/zephyr/", r"^(wb_|cm_)"),
    ("other", r"firmware/sharnn/|/sharnn_", r"^sharnn_"),
)


@dataclass(frozen=True)
class Function:
    name: str
    file: str = ""


def role(fn: Function) -> str:
    """What one function is: a level, a cell step, io, other, or "lib" (belongs to its caller)."""
    for what, pattern in NAME_RULES:
        if re.search(pattern, fn.name):
            return what
    for stage, file_pattern, name_pattern in FILE_RULES:
        if (fn.file and re.search(file_pattern, fn.file)) or re.search(name_pattern, fn.name):
            return stage
    return "lib"


def _code(what: str) -> int:
    return LIB if what == "lib" else STAGES.index(what)


def resolve(inherited: int, ctx: int) -> int:
    """The stage of an instruction with local context ``ctx`` in a call that inherited ``inherited``
    (the plugin's ``resolve``, written once more here for the map and the tests)."""
    ctx &= ~MAC_BIT
    if inherited < len(LEVELS):
        return inherited
    return inherited if ctx == LIB else ctx


def local_context(chain: list[Function]) -> int:
    """The context code of an address whose function chain (outermost first, physical function then
    what is inlined there) is ``chain``."""
    acc = LIB
    mac = False
    for fn in chain:
        what = role(fn)
        if what == CELL:
            what = "upper"       # a cell step outside the lower level is the upper level
        if not (acc != LIB and acc < len(LEVELS)) and what != "lib":
            acc = _code(what)
        mac = mac or bool(re.search(MAC_RULE, fn.name))
    return acc | (MAC_BIT if mac else 0)


# ---------------------------------------------------------------------------------------------- DWARF


@dataclass(frozen=True)
class _Range:
    lo: int
    hi: int
    depth: int
    name: str


def _die_name(die) -> str | None:
    for _ in range(4):
        if "DW_AT_name" in die.attributes:
            return die.attributes["DW_AT_name"].value.decode(errors="replace")
        for ref in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if ref in die.attributes:
                die = die.get_DIE_from_attribute(ref)
                break
        else:
            return None
    return None


def _ranges(die, dwarf, cu) -> list[tuple[int, int]]:
    at = die.attributes
    if "DW_AT_low_pc" in at and "DW_AT_high_pc" in at:
        lo = at["DW_AT_low_pc"].value
        hi = at["DW_AT_high_pc"].value
        return [(lo, hi if at["DW_AT_high_pc"].form == "DW_FORM_addr" else lo + hi)]
    if "DW_AT_ranges" in at:
        rl = dwarf.range_lists()
        if rl is None:
            return []
        base = cu.get_top_DIE().attributes.get("DW_AT_low_pc")
        base = base.value if base is not None else 0
        out = []
        for entry in rl.get_range_list_at_offset(at["DW_AT_ranges"].value, cu=cu):
            name = type(entry).__name__
            if name == "BaseAddressEntry":
                base = entry.base_address
            elif hasattr(entry, "begin_offset"):
                absolute = getattr(entry, "is_absolute", False)
                lo = entry.begin_offset + (0 if absolute else base)
                hi = entry.end_offset + (0 if absolute else base)
                out.append((lo, hi))
        return out
    return []


def inline_map(elf: Path) -> tuple[list[tuple[int, int, str]], list[_Range]]:
    """(functions with their source files as (lo, file, name), inlined ranges) from the DWARF; both
    empty when the ELF has no debug information (then only symbol names decide)."""
    from elftools.elf.elffile import ELFFile

    files: list[tuple[int, int, str]] = []
    ranges: list[_Range] = []
    with open(elf, "rb") as f:
        ef = ELFFile(f)
        if not ef.has_dwarf_info():
            return files, ranges
        dwarf = ef.get_dwarf_info()
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            cu_name = top.attributes["DW_AT_name"].value.decode(errors="replace") if "DW_AT_name" in \
                top.attributes else ""
            stack: list[tuple[object, int]] = []     # (die, inline depth)
            for die in cu.iter_DIEs():
                if die.tag is None:
                    continue
                parent = die.get_parent()
                while stack and stack[-1][0] is not parent:
                    stack.pop()
                depth = stack[-1][1] if stack else 0
                if die.tag == "DW_TAG_subprogram":
                    for lo, hi in _ranges(die, dwarf, cu):
                        files.append((lo & ~1, hi, cu_name))
                elif die.tag == "DW_TAG_inlined_subroutine":
                    depth += 1
                    name = _die_name(die) or "?"
                    for lo, hi in _ranges(die, dwarf, cu):
                        ranges.append(_Range(lo & ~1, hi, depth, name))
                if die.has_children:
                    stack.append((die, depth))
    return files, ranges


def function_symbols(elf: Path) -> list[tuple[int, int, str]]:
    """Sized function symbols as (lo, hi, name), Thumb bit cleared."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    out = []
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for s in symtab.iter_symbols():
                if s["st_info"]["type"] == "STT_FUNC" and s["st_size"] > 0:
                    lo = s["st_value"] & ~1
                    out.append((lo, lo + s["st_size"], s.name))
    return sorted(out)


class StageMap:
    """Local contexts of the instructions of one ELF."""

    def __init__(self, elf: Path):
        self.symbols = function_symbols(elf)
        self.files, self.inlined = inline_map(elf)

    def _find(self, table, addr):
        for lo, hi, name in table:
            if lo <= addr < hi:
                return name
        return None

    def chain(self, addr: int) -> list[Function]:
        """The functions at ``addr``, outermost first: the symbol, then what is inlined there."""
        name = self._find(self.symbols, addr) or "?"
        file = self._find(self.files, addr) or ""
        inner = sorted((r for r in self.inlined if r.lo <= addr < r.hi), key=lambda r: r.depth)
        return [Function(name, file)] + [Function(r.name, file) for r in inner]

    def contexts(self, addrs) -> dict[int, int]:
        return {a: local_context(self.chain(a)) for a in addrs}


# ---------------------------------------------------------------------------------------------- checkpoints

TABLE_SYMBOL = "wb_stage_table"
TABLE_MAGIC = 0x54534257          # "WBST", firmware/runner/wb_stage.h
TABLE_MAX = 96


def _defines_any(elf: Path, *names: str) -> bool:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return bool(symtab is not None and any(symtab.get_symbol_by_name(name) for name in names))


def has_stage_table(elf: Path) -> bool:
    """The firmware was built with stage checkpoints (--breakdown)."""
    return _defines_any(elf, TABLE_SYMBOL)


def reads_devices_in_the_window(elf: Path) -> bool:
    """Code inside a measured window may read a device register: the stage checkpoints of a
    --breakdown build read SysTick, and an RTOS (Zephyr: ``z_cstart``) takes its timer interrupt
    whenever it is due, whose handler reads the timer. Under -icount QEMU cuts a TB at such an access,
    so the stage plugin must watch them (see cm4_profile.c)."""
    return _defines_any(elf, TABLE_SYMBOL, "z_cstart")


def stage_table(elf: Path) -> list[tuple[int, int]]:
    """(function address as a function pointer holds it, context code) of every function of the
    kernel a checkpoint can enter, for firmware built with --breakdown: the function's own role (its
    inlined callees call the checkpoints themselves), sorted by address."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    files, _ = inline_map(elf)
    rows = {}
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        for s in symtab.iter_symbols() if isinstance(symtab, SymbolTableSection) else ():
            if s["st_info"]["type"] != "STT_FUNC" or s["st_size"] == 0:
                continue
            lo = s["st_value"] & ~1
            file = next((name for a, b, name in files if a <= lo < b), "")
            ctx = local_context([Function(s.name, file)]) & ~MAC_BIT
            if ctx != LIB and re.search(r"firmware/sharnn/|/sharnn_|^sharnn_", file or s.name):
                rows[s["st_value"]] = ctx
    return sorted(rows.items())


def patch_stage_table(elf: Path) -> int:
    """Write the stage table into a --breakdown firmware's ELF (in place; the table's bytes only, so no
    address moves); returns the number of entries. Raises when the firmware has no table."""
    from elftools.elf.elffile import ELFFile

    from workbench.errors import WorkbenchError

    rows = stage_table(elf)
    if len(rows) > TABLE_MAX:
        raise WorkbenchError(f"{elf}: {len(rows)} kernel functions need a stage, the table holds {TABLE_MAX}")
    with open(elf, "rb") as f:
        ef = ELFFile(f)
        symtab = ef.get_section_by_name(".symtab")
        syms = symtab.get_symbol_by_name(TABLE_SYMBOL) if symtab is not None else None
        if not syms:
            raise WorkbenchError(f"{elf} has no {TABLE_SYMBOL}: it was not built with --breakdown")
        sym = syms[0]
        section = ef.get_section(sym["st_shndx"])
        offset = section["sh_offset"] + sym["st_value"] - section["sh_addr"]
        f.seek(offset)
        magic = int.from_bytes(f.read(4), "little")
    if magic != TABLE_MAGIC:
        raise WorkbenchError(f"{elf}: {TABLE_SYMBOL} does not start with its magic number: not patched")
    import struct

    blob = struct.pack("<II", TABLE_MAGIC, len(rows)) + b"".join(struct.pack("<II", a, c) for a, c in rows)
    with open(elf, "r+b") as f:
        f.seek(offset)
        f.write(blob)
    _refresh_images(elf)
    return len(rows)


def _refresh_images(elf: Path) -> None:
    """A Zephyr build flashes its zephyr.hex/zephyr.bin: write them again from the patched ELF."""
    import shutil
    import subprocess

    from workbench.errors import WorkbenchError

    for suffix, fmt in ((".hex", "ihex"), (".bin", "binary")):
        image = Path(elf).with_suffix(suffix)
        if not image.exists():
            continue
        objcopy = shutil.which("arm-none-eabi-objcopy")
        if objcopy is None:
            raise WorkbenchError(f"arm-none-eabi-objcopy not found: cannot write {image} again with the stage table")
        proc = subprocess.run([objcopy, "--gap-fill", "0xff", "-O", fmt, "--remove-section=.comment", str(elf),
                               str(image)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise WorkbenchError(f"objcopy could not write {image}: {proc.stderr.strip()[:200]}")
