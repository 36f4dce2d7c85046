"""What the workbench can build and where each piece runs: the model families, the cell kinds, and
which cells each arithmetic's kernels run (the one table train, build, sweep and the help texts read).

No torch here: checking a request must not pay for importing it.
"""

from __future__ import annotations

from workbench.errors import WorkbenchError

# family -> levels (cells and hidden sizes): ShaRNN's lower and upper RNN, or one RNN over the window.
FAMILY_LEVELS = {"sharnn": 2, "rnn": 1}

# Every cell kind the torch models have (workbench/models/cells.py: CELLS).
CELL_KINDS = ("lstm", "gru", "fastgrnn", "mingru", "minlstm", "durnn")

# The cells each arithmetic's device kernels run: the C kernels (bare metal, Zephyr, the MicroPython native
# module). Training knows every cell kind; a model runs on a device only in an arithmetic listed here.
KERNEL_CELLS = {
    "f32": CELL_KINDS,
    "q15": CELL_KINDS,
}
# The cells of MicroPython's Python kernels (wb_kern.py, bytecode and viper), one layer per level.
MICROPYTHON_CELLS = ("lstm", "gru")


def check_cells(cells) -> None:
    """Refuse a cell kind nobody knows (one line naming the known ones)."""
    for c in cells:
        if c not in CELL_KINDS:
            raise WorkbenchError(f"unknown cell {c!r}; known: {', '.join(sorted(CELL_KINDS))}")


def check_kernel_cells(cells, quant: str, what: str = "") -> None:
    """Refuse, before any build, a model whose cells the ``quant`` kernels do not run."""
    have = KERNEL_CELLS.get(quant, ())
    for c in cells:
        if c not in have:
            others = [q for q, cs in KERNEL_CELLS.items() if c in cs]
            hint = f"; it runs in {', '.join(others)}" if others else ""
            raise WorkbenchError(f"{what}the {quant} kernels have no {c!r} cell (have: {', '.join(have)}){hint}")


def cells_help() -> str:
    """One sentence for help texts: which cells run on a device in which arithmetic."""
    return "; ".join(f"{q}: {', '.join(cs)}" for q, cs in KERNEL_CELLS.items())
