"""Static memory of a firmware ELF: flash (code, weights) and RAM (data, bss, stack) by section,
and the model's static buffers by symbol. Source of every figure: ``static-elf``."""

from __future__ import annotations

from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from workbench.build import MemoryReport
from workbench.errors import WorkbenchError

MODEL_STATE_SYMBOLS = ("wb_model_scratch", "wb_model_stream_ring", "wb_model_state")
SHF_ALLOC = 0x2
SHF_WRITE = 0x1
SHF_EXECINSTR = 0x4


def memory_report(elf_path: Path) -> MemoryReport:
    try:
        f = open(elf_path, "rb")
    except OSError as exc:
        raise WorkbenchError(f"cannot read firmware {elf_path}: {exc.strerror}") from None
    with f:
        elf = ELFFile(f)
        sizes = {s.name: s["sh_size"] for s in elf.iter_sections() if s["sh_flags"] & SHF_ALLOC}
        kinds = {s.name: (s["sh_type"], s["sh_flags"]) for s in elf.iter_sections() if s["sh_flags"] & SHF_ALLOC}
        symbols = {}
        symtab = elf.get_section_by_name(".symtab")
        if isinstance(symtab, SymbolTableSection):
            for sym in symtab.iter_symbols():
                if sym.name in MODEL_STATE_SYMBOLS or sym.name.startswith("wb_model_"):
                    if sym["st_info"]["type"] == "STT_OBJECT":
                        symbols[sym.name] = sym["st_size"]
    weights = sizes.get(".sharnn_weights", 0)
    stack = sizes.get(".stack", 0)
    data = sum(v for k, v in sizes.items() if k == ".data" or k.startswith(".data."))
    bss = sum(v for k, v in sizes.items() if k in (".bss", ".noinit") or k.startswith(".bss."))
    # Flash holds every allocated, non-NOBITS section except RAM-only ones, plus the .data image.
    code = sum(v for k, v in sizes.items()
               if kinds[k][0] != "SHT_NOBITS" and not (kinds[k][1] & SHF_WRITE) and k != ".sharnn_weights")
    return MemoryReport(flash_code=code + data, flash_weights=weights, ram_data=data, ram_bss=bss,
                        ram_stack_reserved=stack,
                        model_state=sum(v for k, v in symbols.items() if k in MODEL_STATE_SYMBOLS),
                        symbols=symbols)
