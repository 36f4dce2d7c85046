"""The insn_count QEMU plugin counts exactly what the disassembly says runs between the markers.

The fixture firmware (tests/fixtures/plugin_loop) has two windows: an empty one and a loop of LOOP_N
iterations. The expected counts are derived here from ``arm-none-eabi-objdump -d`` of ``main``:
straight-line instructions count once, the body of the one backward branch counts LOOP_N times.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import needs_qemu
from workbench.errors import WorkbenchError
from workbench.targets import qemu_plugin
from workbench.targets.qemu_plugin import build_plugin, find_markers, plugin_arg, read_counts

FIXTURE = Path(__file__).parent / "fixtures" / "plugin_loop"
ARM_CFLAGS = ["-mcpu=cortex-m4", "-mthumb", "-O2", "-fno-unroll-loops", "-ffreestanding", "-nostdlib",
              "-nostartfiles", "-Wall", "-Wextra", "-Werror"]
QEMU_ARGS = ["-M", "mps2-an386", "-cpu", "cortex-m4", "-nographic", "-monitor", "none", "-serial", "none",
             "-semihosting-config", "enable=on,target=native"]

# The plugin itself is built with the host gcc only; counting runs firmware under QEMU (marker qemu)
# and reads its disassembly with arm-none-eabi-objdump.
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs host gcc")
needs_objdump = pytest.mark.skipif(shutil.which("arm-none-eabi-objdump") is None,
                                   reason="needs arm-none-eabi-objdump")

# Conditional or unconditional PC-relative branches, Thumb-2 spelling (b, bne.n, b.w, cbz, ...).
BRANCH = re.compile(r"(b(eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)?|cbn?z)(\.[nw])?")


@dataclasses.dataclass(frozen=True)
class Insn:
    addr: int
    mnemonic: str
    operands: str


def disassemble(elf: Path, function: str) -> list[Insn]:
    text = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], check=True, capture_output=True,
                          text=True).stdout
    insns: list[Insn] = []
    inside = False
    for line in text.splitlines():
        if header := re.match(r"[0-9a-f]+ <(\w+)>:$", line):
            inside = header.group(1) == function
        elif inside and (m := re.match(r"\s*([0-9a-f]+):\t[0-9a-f ]+\t(\S+)\t?(.*)$", line)):
            insns.append(Insn(int(m.group(1), 16), m.group(2), m.group(3)))
    assert insns, f"{function} not found in the disassembly"
    return insns


def windows(insns: list[Insn]) -> list[list[Insn]]:
    """The instructions strictly between each `bl wb_count_begin` and the next `bl wb_count_end`."""
    result: list[list[Insn]] = []
    current: list[Insn] | None = None
    for insn in insns:
        if insn.mnemonic == "bl" and insn.operands.endswith("<wb_count_begin>"):
            assert current is None, "nested wb_count_begin"
            current = []
        elif insn.mnemonic == "bl" and insn.operands.endswith("<wb_count_end>"):
            assert current is not None, "wb_count_end without wb_count_begin"
            result.append(current)
            current = None
        elif current is not None:
            current.append(insn)
    return result


def writes_pc(insn: Insn) -> bool:
    """Control flow other than a plain branch, or data in the instruction stream."""
    if insn.mnemonic.startswith((".", "bl", "bx", "tbb", "tbh")):
        return True
    if insn.mnemonic.startswith(("pop", "ldm")):
        return "pc" in insn.operands
    return insn.operands.startswith("pc,")


def expected_count(window: list[Insn], iterations: int) -> int:
    """Straight-line code counts once; the body of a single backward branch counts `iterations` times."""
    for insn in window:
        assert not writes_pc(insn), f"cannot derive a count through {insn}"
    branches = [i for i, insn in enumerate(window) if BRANCH.fullmatch(insn.mnemonic)]
    if not branches:
        return len(window)
    assert len(branches) == 1, f"expected one loop branch, got {[window[i] for i in branches]}"
    last = branches[0]
    target = int(window[last].operands.split()[0], 16)
    first = next(i for i, insn in enumerate(window) if insn.addr == target)
    assert first <= last and window[last].mnemonic not in ("b", "b.n", "b.w"), "not a counted loop"
    body = last - first + 1
    return len(window) - body + iterations * body


def build_firmware(out_dir: Path, loop_n: int) -> Path:
    elf = out_dir / f"plugin_loop_{loop_n}.elf"
    sources = [str(FIXTURE / name) for name in ("main.c", "startup.c", "markers.c")]
    subprocess.run(["arm-none-eabi-gcc", *ARM_CFLAGS, f"-DLOOP_N={loop_n}U", "-T", str(FIXTURE / "link.ld"),
                    *sources, "-o", str(elf)], check=True)
    return elf


def run_counts(elf: Path, plugin: Path, markers: qemu_plugin.Markers, out: Path) -> list[int]:
    proc = subprocess.run(["qemu-system-arm", *QEMU_ARGS, "-kernel", str(elf),
                           "-plugin", plugin_arg(plugin, markers, out)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"firmware exit {proc.returncode}: {proc.stderr}"
    return read_counts(out)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_plugin(tmp_path_factory.mktemp("plugin"))


@needs_qemu
@needs_objdump
@needs_gcc
@pytest.mark.parametrize("loop_n", [1000, 4321])
def test_counts_match_disassembly(tmp_path: Path, plugin: Path, loop_n: int) -> None:
    elf = build_firmware(tmp_path, loop_n)
    spans = windows(disassemble(elf, "main"))
    assert len(spans) == 2
    expected = [expected_count(span, loop_n) for span in spans]
    assert expected[0] == 0 and expected[1] > loop_n  # the fixture compiled to the intended shape

    markers = find_markers(elf)
    assert markers.begin & 1 and markers.end & 1  # Thumb symbol values: the plugin clears bit 0
    first = run_counts(elf, plugin, markers, tmp_path / "first.txt")
    second = run_counts(elf, plugin, markers, tmp_path / "second.txt")
    even = dataclasses.replace(markers, begin=markers.begin & ~1, end=markers.end & ~1)
    cleared = run_counts(elf, plugin, even, tmp_path / "cleared.txt")

    assert first == expected
    assert second == first
    assert cleared == first


@needs_gcc
def test_build_is_cached(tmp_path: Path) -> None:
    first = build_plugin(tmp_path)
    mtime = first.stat().st_mtime_ns
    assert build_plugin(tmp_path) == first
    assert first.stat().st_mtime_ns == mtime


def test_missing_gcc_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu_plugin.shutil, "which", lambda name: None)
    with pytest.raises(WorkbenchError, match="gcc not found"):
        build_plugin(tmp_path)


@needs_gcc
def test_compile_error_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.c"
    broken.write_text("int qemu_plugin_version = ;\n")
    monkeypatch.setattr(qemu_plugin, "PLUGIN_SOURCE", broken)
    with pytest.raises(WorkbenchError, match=r"gcc failed .*error") as info:
        build_plugin(tmp_path)
    assert "\n" not in str(info.value)


def test_missing_counts_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorkbenchError, match="no instruction counts"):
        read_counts(tmp_path / "absent.txt")


def test_new_lines_gives_each_whole_line_once(tmp_path: Path) -> None:
    """A run reads the counts after every window: each call returns only the lines added since the
    last, and a line the plugin has not finished (no newline yet) waits for the next call."""
    out = tmp_path / "counts.txt"
    lines = qemu_plugin.NewLines(out)
    assert lines.read() == []                       # QEMU has not opened the file yet
    out.write_text("12\n34\n")
    assert lines.read() == ["12", "34"]
    assert lines.read() == []
    with open(out, "a") as f:
        f.write("56\n7")
    assert lines.read() == ["56"]
    with open(out, "a") as f:
        f.write("8\n")
    assert [qemu_plugin.parse_count(s) for s in lines.read()] == [78]
    assert qemu_plugin.parse_vcpu_count("1 250") == (1, 250)
