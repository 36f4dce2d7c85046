"""Build stage: an exported model + a board -> a firmware artefact and its static memory report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class MemoryReport:
    """Static sizes read from the ELF (bytes). ``model_state`` is the model's static buffers;
    ``ram_stack_core1`` is the part of ``ram_stack_reserved`` that is a second core's stack."""

    flash_code: int
    flash_weights: int
    ram_data: int
    ram_bss: int
    ram_stack_reserved: int
    model_state: int
    symbols: dict = field(default_factory=dict)
    ram_stack_core1: int = 0

    @property
    def flash_total(self) -> int:
        return self.flash_code + self.flash_weights

    @property
    def ram_total(self) -> int:
        return self.ram_data + self.ram_bss + self.ram_stack_reserved


@dataclass
class Artifact:
    board: str
    backend: str
    elf: Path
    memory: MemoryReport
    toolchain: str
    export_dir: Path
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = asdict(self)
        d["elf"], d["export_dir"] = str(self.elf), str(self.export_dir)
        return d
