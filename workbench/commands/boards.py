"""``workbench boards``: the boards and what each supports."""

from __future__ import annotations

from workbench.commands.common import console

FLASHING_NAMES = {"pyocd_target": "pyOCD", "west_runner": "west"}
EMULATOR_NAMES = {"qemu": "QEMU", "renode": "Renode"}


def _backends(b) -> str:
    return ", ".join("bare metal" if name == "baremetal" else name for name in b.backends)


def _runs_on(b) -> str:
    out = [EMULATOR_NAMES.get(name, name) for name in b.emulators]
    if b.flashing:
        out.append("board")
    return ", ".join(out) or "-"


def _flashing(b) -> str:
    return ", ".join(name for k, name in FLASHING_NAMES.items() if k in b.flashing) or "-"


def cmd_boards(args) -> int:
    from rich.table import Table

    from workbench.boards import DEFAULT_BOARD, all_boards

    t = Table(title="boards (details: boards/<name>.toml)")
    t.add_column("name", no_wrap=True)
    for col in ("core", "clock", "RAM/flash KB", "counter", "build with", "runs on", "flash with"):
        t.add_column(col)
    for b in all_boards():
        name = b.name + ("*" if b.name == DEFAULT_BOARD else "")
        core = b.cpu.removeprefix("cortex-").upper() + (" DSP" if b.dsp else "")
        t.add_row(name, core, f"{b.clock_hz / 1e6:g} MHz", f"{b.ram_bytes // 1024}/{b.flash_bytes // 1024}",
                  b.cycle_counter, _backends(b), _runs_on(b), _flashing(b))
    t.caption = f"* default board ({DEFAULT_BOARD}); board = the real board on a serial port"
    console().print(t)
    return 0


def register(sub) -> None:
    s = sub.add_parser("boards", help="list the boards and what each supports")
    s.set_defaults(func=cmd_boards)
