"""``workbench boards``: the boards and what each supports."""

from __future__ import annotations

from workbench.commands.common import console


def cmd_boards(args) -> int:
    from rich.table import Table

    from workbench.boards import DEFAULT_BOARD, all_boards

    t = Table(title="boards")
    for col in ("name", "cpu", "clock", "RAM", "flash", "counter", "backends", "emulators", "flash via"):
        t.add_column(col)
    for b in all_boards():
        name = b.name + (" (default)" if b.name == DEFAULT_BOARD else "")
        t.add_row(name, b.cpu, f"{b.clock_hz / 1e6:g} MHz", f"{b.ram_bytes // 1024} KB", f"{b.flash_bytes // 1024} KB",
                  b.cycle_counter, ", ".join(b.backends), ", ".join(b.emulators) or "-",
                  ", ".join(b.flashing) or "-")
    console().print(t)
    return 0


def register(sub) -> None:
    s = sub.add_parser("boards", help="list the boards and what each supports")
    s.set_defaults(func=cmd_boards)
