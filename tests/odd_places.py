"""Places a careless user or a faulty machine puts the workbench in, for the robustness tests: a
checkout of its own (any path, e.g. with a space, a comma and a non-ASCII letter), a small file
system that fills up, a read-only one, and the processes a command leaves behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def checkout_at(folder: Path) -> Path:
    """A workbench home at ``folder`` (its firmware/ and boards/; the package stays where it is):
    WORKBENCH_HOME=folder builds, caches and runs everything there, cold."""
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("firmware", "boards"):
        shutil.copytree(ROOT / part, folder / part)
    return folder


def cli_env(home: Path | None = None, **extra) -> dict:
    env = dict(os.environ, **extra)
    if home is not None:
        env["WORKBENCH_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def workbench(*args, home: Path | None = None, **kw) -> subprocess.CompletedProcess:
    """``python -m workbench.cli ARGS`` in a subprocess (this checkout's code), with WORKBENCH_HOME=home."""
    return subprocess.run([sys.executable, "-m", "workbench.cli", *map(str, args)], capture_output=True, text=True,
                          env=cli_env(home), **kw)


def start_workbench(*args, home: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workbench.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(home))


def one_line(proc, code: int) -> str:
    """The single stderr line of a command that failed with ``code`` (asserted), without its prefix."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return lines[0]


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str = "1m", *, read_only: bool = False):
    """A tmpfs of ``size`` mounted at ``folder`` (needs root: skips cleanly where mounting is not allowed,
    as on most CI machines)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0777" + (",ro" if read_only else "")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(folder)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` up (ENOSPC), then free ``leave`` bytes again."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65536, 512):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * chunk)
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def tree_once_qemu_runs(proc: subprocess.Popen, timeout: float = 600) -> set[int]:
    """Wait until a QEMU runs below ``proc``; then every process below it (asserted: QEMU among them)."""
    deadline = time.monotonic() + timeout
    tree: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        tree = descendants(proc.pid)
        if any("qemu-system-arm" in command_of(pid) for pid in tree):
            return tree
        time.sleep(0.1)
    raise AssertionError(f"no QEMU below process {proc.pid} within {timeout:.0f} s")
