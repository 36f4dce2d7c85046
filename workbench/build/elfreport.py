"""Static memory of a firmware ELF: flash (code, weights) and RAM (data, bss, stack) by section,
and the model's static buffers by symbol. Source of every figure: ``static-elf``."""

from __future__ import annotations

from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from workbench.build import MemoryReport
from workbench.errors import WorkbenchError

# Two-core builds add core 1's scratch and the brick outputs both cores write (runner/wb_model_parallel.h).
MODEL_STATE_SYMBOLS = ("wb_model_scratch", "wb_model_stream_ring", "wb_model_state", "wb_model_core1_scratch",
                       "wb_model_bricks")
SHF_ALLOC = 0x2
SHF_WRITE = 0x1


def memory_report(elf_path: Path) -> MemoryReport:
    """Sections are classified by their flags, not their names, so bare-metal (``.text``, ``.bss``)
    and Zephyr (``text``, ``datas``, ``bss``, ``noinit``, ...) ELFs read the same way: flash holds
    every allocated read-only section plus the image of initialised data; RAM is writable data
    (``data``) and zero-initialised/no-init memory (``bss``) less the stacks, which are reported
    apart: the bare-metal ``.stack`` section (and ``.stack1``, a second core's), or Zephyr's thread
    and interrupt stacks (objects named ``*_stack``/``*_stacks`` in no-load RAM, e.g.
    ``z_main_stack``, ``z_interrupt_stacks``)."""
    try:
        f = open(elf_path, "rb")
    except OSError as exc:
        raise WorkbenchError(f"cannot read firmware {elf_path}: {exc.strerror}") from None
    with f:
        elf = ELFFile(f)
        sections = [s for s in elf.iter_sections() if s["sh_flags"] & SHF_ALLOC]
        nobits = [(s["sh_addr"], s["sh_addr"] + s["sh_size"]) for s in sections if s["sh_type"] == "SHT_NOBITS"]
        symbols, stacks = {}, {}
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for sym in symtab.iter_symbols():
                if sym["st_info"]["type"] != "STT_OBJECT":
                    continue
                if sym.name in MODEL_STATE_SYMBOLS or sym.name.startswith("wb_model_"):
                    symbols[sym.name] = sym["st_size"]
                elif sym.name.endswith(("_stack", "_stacks")) and any(lo <= sym["st_value"] < hi for lo, hi in nobits):
                    stacks[sym.name] = sym["st_size"]
    weights = code = data = bss = 0
    stack_section = stack1 = 0
    for s in sections:
        size, writable = s["sh_size"], bool(s["sh_flags"] & SHF_WRITE)
        if s.name == ".sharnn_weights":
            weights += size
        elif s.name in (".stack", ".stack1"):
            stack_section += size
            stack1 += size if s.name == ".stack1" else 0
        elif s["sh_type"] == "SHT_NOBITS":
            bss += size
        elif writable:
            data += size
        else:
            code += size
    stack = stack_section if stack_section else sum(stacks.values())
    if not stack_section:
        bss -= stack
        symbols.update(stacks)
    return MemoryReport(flash_code=code + data, flash_weights=weights, ram_data=data, ram_bss=bss,
                        ram_stack_reserved=stack, ram_stack_core1=stack1,
                        model_state=sum(v for k, v in symbols.items() if k in MODEL_STATE_SYMBOLS),
                        symbols=symbols)
