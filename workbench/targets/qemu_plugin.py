"""Exact instruction counts from QEMU through our own TCG plugin (``qemu_plugin/insn_count.c``).

The firmware brackets the code to measure with calls to two empty ``noinline`` functions,
``wb_count_begin()`` and ``wb_count_end()``. The plugin writes one line per pair: the instructions
executed after ``wb_count_begin`` returns and before the branch into ``wb_count_end`` (so an empty
pair reads 0). Usage::

    plugin = build_plugin()
    qemu_args += ["-plugin", plugin_arg(plugin, find_markers(elf), counts_file)]
    ...
    counts = read_counts(counts_file)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from workbench import paths
from workbench.build import cache
from workbench.errors import WorkbenchError
from workbench.filesystem import locked, storage_trouble

PLUGIN_SOURCE = Path(__file__).resolve().parent / "qemu_plugin" / "insn_count.c"
# Undefined qemu_plugin_* symbols are left for QEMU to resolve from its own executable at load time.
CFLAGS = ("-shared", "-fPIC", "-O2", "-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra")

BEGIN_SYMBOL = "wb_count_begin"
END_SYMBOL = "wb_count_end"


@dataclass(frozen=True)
class Markers:
    """Address and size in bytes of the two marker functions (ELF values; Thumb bit 0 may be set)."""

    begin: int
    begin_size: int
    end: int
    end_size: int


def build_plugin(build_dir: Path | None = None, source_path: Path | None = None, *,
                 cflags: tuple[str, ...] = CFLAGS, suffix: str = ".so") -> Path:
    """Compile a plugin (``insn_count.c`` unless ``source_path`` names another file of
    ``qemu_plugin/``) with the host gcc, once per source/flags version; return the ``.so`` (or, with
    other ``cflags`` and ``suffix``, the program they make of it). Verified before every use
    (build/cache.py): QEMU cannot load a truncated .so, and says so only as a dead serial link."""
    source_path = source_path or PLUGIN_SOURCE
    source = source_path.read_bytes()
    inputs = hashlib.sha256(source + "\0".join(cflags).encode()).hexdigest()
    out_dir = (build_dir or paths.build_dir()) / "qemu_plugin"
    target = out_dir / f"{source_path.stem}-{inputs[:16]}{suffix}"
    if cache.intact(target, inputs):
        return target

    gcc = shutil.which("gcc")
    if gcc is None:
        raise WorkbenchError("host gcc not found: it is needed to build the QEMU instruction-count plugin")
    with locked(out_dir, "plugin build folder"):
        if cache.intact(target, inputs):     # another run built it while this one waited
            return target
        fd, tmp_name = tempfile.mkstemp(prefix=f".{source_path.stem}-", suffix=suffix, dir=out_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            proc = subprocess.run([gcc, *cflags, "-o", str(tmp), str(source_path)], capture_output=True, text=True)
            if proc.returncode != 0:
                lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
                why = storage_trouble(proc.stderr) or next((line for line in lines if "error" in line),
                                                           lines[-1] if lines else f"exit {proc.returncode}")
                raise WorkbenchError(f"gcc failed to build the QEMU plugin {source_path.name}: {why}")
            os.chmod(tmp, 0o755)
            os.replace(tmp, target)  # atomic: a concurrent build never sees a half-written .so
        finally:
            tmp.unlink(missing_ok=True)
        cache.stamp(target, inputs)
    return target


def find_markers(elf: Path) -> Markers:
    """Read ``wb_count_begin``/``wb_count_end`` from the ELF symbol table."""
    with open(elf, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise WorkbenchError(f"{elf} has no symbol table: cannot find the count markers")
        found = {}
        for name in (BEGIN_SYMBOL, END_SYMBOL):
            syms = [s for s in symtab.get_symbol_by_name(name) or () if s["st_info"]["type"] == "STT_FUNC"]
            if len(syms) != 1 or syms[0]["st_size"] == 0:
                raise WorkbenchError(f"{elf} needs exactly one sized function {name}() to count instructions")
            found[name] = syms[0]
    begin, end = found[BEGIN_SYMBOL], found[END_SYMBOL]
    return Markers(begin["st_value"], begin["st_size"], end["st_value"], end["st_size"])


def plugin_arg(plugin: Path, markers: Markers, out: Path, per_vcpu: bool = False) -> str:
    """The value for QEMU's ``-plugin`` option; ``per_vcpu`` counts each vCPU apart (multi-core
    machines: every line is then "VCPU COUNT", read with ``read_vcpu_counts``)."""
    return (
        f"file={_qemu_opt(plugin)},begin={markers.begin:#x},begin_size={markers.begin_size},"
        f"end={markers.end:#x},end_size={markers.end_size},out={_qemu_opt(out)}"
        + (",per_vcpu=1" if per_vcpu else "")
    )


def _qemu_opt(path: Path) -> str:
    """QEMU option syntax separates keys with commas; a literal comma is written twice."""
    return str(path).replace(",", ",,")


def _lines(path: Path) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except FileNotFoundError:
        raise WorkbenchError(f"no instruction counts at {path}: did QEMU load the plugin?") from None


def parse_count(line: str) -> int:
    return int(line)


def parse_vcpu_count(line: str) -> tuple[int, int]:
    v, c = line.split()
    return int(v), int(c)


def read_counts(path: Path) -> list[int]:
    """One count per begin/end pair, in execution order (empty if no pair completed)."""
    return [parse_count(line) for line in _lines(path) if line.strip()]


def read_vcpu_counts(path: Path) -> list[tuple[int, int]]:
    """Per-vCPU mode: (vCPU, count) per begin/end pair, in the order the pairs ended."""
    return [parse_vcpu_count(line) for line in _lines(path) if line.strip()]


class NewLines:
    """The whole lines a plugin has appended to its output file since the last ``read()``.

    A run asks for the counts after every window; reading only what is new keeps a whole-test-set
    run linear in its windows (re-reading the file each time made 2,400 keyword windows quadratic:
    the host, not QEMU, became the bottleneck). A line still being written (no newline yet) waits for
    the next call."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.offset = 0

    def read(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        whole = data[:data.rfind(b"\n") + 1]
        self.offset += len(whole)
        return [line for line in whole.decode().splitlines() if line.strip()]
