"""Board files (``boards/<name>.toml``): what a board is, how to build for it and how to run it.

Required fields are checked when a board is loaded; a missing one is a one-line error naming the
board and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from workbench.errors import WorkbenchError
from workbench.paths import boards_dir

DEFAULT_BOARD = "mps2-an386"
REQUIRED = ("name", "cpu", "clock_hz", "ram_bytes", "flash_bytes", "fpu", "dsp", "cycle_counter", "backends",
            "emulators", "flashing", "serial", "energy")
CYCLE_COUNTERS = ("dwt", "systick", "ticks_us", "none")
# Fields required inside a table when that table (or entry) is present.
NESTED_REQUIRED = {"emulators.qemu": ("machine",), "emulators.renode": ("platform",), "serial": ("baudrate",),
                   "energy": ("ua_per_mhz", "volts", "source")}


@dataclass
class Board:
    name: str
    cpu: str
    clock_hz: int
    ram_bytes: int
    flash_bytes: int
    fpu: bool
    dsp: bool
    cycle_counter: str
    backends: dict
    emulators: dict
    flashing: dict
    serial: dict
    energy: dict
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    cores: int = 1           # cores a firmware can run an inference on (workbench run --cores)
    path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def qemu(self) -> dict | None:
        return self.emulators.get("qemu")

    @property
    def runs_micropython(self) -> bool:
        """A MicroPython board: the model goes there as files, runs through the REPL (no firmware build)."""
        return "micropython" in self.backends

    @property
    def default_backend(self) -> str:
        """The backend used when none is asked for: bare metal where the board has a port."""
        return "baremetal" if "baremetal" in self.backends else next(iter(self.backends), "baremetal")

    def supports(self) -> list[str]:
        out = [f"{k}" for k in self.backends]
        out += [f"{k}" for k in self.emulators]
        if self.flashing:
            out.append("flash")
        return out


def _parse(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise WorkbenchError(f"board file {path.name}: not valid TOML ({exc})") from None
    board = path.stem
    for key in REQUIRED:
        if key not in data:
            raise WorkbenchError(f"board {board}: board file {path.name} is missing field '{key}'")
    for where, keys in NESTED_REQUIRED.items():
        table = data
        for part in where.split("."):
            table = table.get(part) if isinstance(table, dict) else None
        if table is None:
            continue
        if not isinstance(table, dict):
            raise WorkbenchError(f"board {board}: field '{where}' must be a table")
        for key in keys:
            if key not in table:
                raise WorkbenchError(f"board {board}: board file {path.name} is missing field '{where}.{key}'")
    if data["name"] != board:
        raise WorkbenchError(f"board file {path.name}: name '{data['name']}' does not match the file name")
    if data["cycle_counter"] not in CYCLE_COUNTERS:
        raise WorkbenchError(f"board {board}: cycle_counter must be one of {', '.join(CYCLE_COUNTERS)}")
    for key in ("clock_hz", "ram_bytes", "flash_bytes", "cores"):
        if key in data and (not isinstance(data[key], int) or data[key] <= 0):
            raise WorkbenchError(f"board {board}: field '{key}' must be a positive integer")
    known = {f for f in Board.__dataclass_fields__ if f not in ("path", "extra")}
    return Board(**{k: v for k, v in data.items() if k in known}, path=path,
                 extra={k: v for k, v in data.items() if k not in known})


def all_boards() -> list[Board]:
    return [_parse(p) for p in sorted(boards_dir().glob("*.toml"))]


def load_board(name: str) -> Board:
    """Find a board by name or alias (case-insensitive)."""
    wanted = name.lower()
    path = boards_dir() / f"{name}.toml"
    if path.is_file():
        return _parse(path)
    for p in sorted(boards_dir().glob("*.toml")):
        b = _parse(p)
        if wanted == b.name.lower() or wanted in (a.lower() for a in b.aliases):
            return b
    known = ", ".join(p.stem for p in sorted(boards_dir().glob("*.toml")))
    raise WorkbenchError(f"unknown board '{name}' (known: {known})")
