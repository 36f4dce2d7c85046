"""Helpers shared by the command modules: console, progress, argument parsing."""

from __future__ import annotations

import argparse

from workbench.errors import WorkbenchError


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises a one-line WorkbenchError instead of printing usage and exiting."""

    def error(self, message):
        raise WorkbenchError(f"{self.prog}: {message} (see {self.prog} --help)")


def console():
    from rich.console import Console

    c = Console()
    if not c.is_terminal:
        c.width = max(c.width, 110)   # logs and pipes: keep table rows on one line
    return c


def progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise WorkbenchError(f"expected comma-separated integers, got '{text}'") from None


def quant_options(s) -> None:
    s.add_argument("--quant", default="f32", choices=["f32", "q15"],
                   help="kernel arithmetic: float32, or int16 weights/activations with int32 accumulators [f32]")
    s.add_argument("--kernel", default="dsp", choices=["dsp", "portable"],
                   help="int kernel path on the device: SMLAD (Cortex-M4 DSP) or plain C; same integers [dsp]")
