"""Helpers shared by the command modules: console, progress, argument parsing."""

from __future__ import annotations

import argparse
import math

from workbench.errors import WorkbenchError


class OneLineParser(argparse.ArgumentParser):
    """argparse that raises a one-line WorkbenchError instead of printing usage and exiting."""

    def error(self, message):
        raise WorkbenchError(f"{self.prog}: {message} (see {self.prog} --help)")


def finite_float(text: str) -> float:
    """An option's number: a float, but never NaN or an infinity (``--fail-over nan`` would turn a gate
    off without a word: every comparison with NaN is false)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def console():
    from rich.console import Console

    c = Console()
    if not c.is_terminal:
        c.width = max(c.width, 110)   # logs and pipes: keep table rows on one line
    return c


def progress():
    """A live bar on a terminal; plain lines (one per task every 10 s) in logs and pipes."""
    from workbench.progress import progress_for

    return progress_for(console())


def levels(text: str) -> list[str]:
    """Per-level values: ``gru`` or ``lstm,gru`` (lower,upper); ``/`` works as well as ``,``."""
    return [v.strip() for v in text.replace("/", ",").split(",")]


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in levels(text)]
    except ValueError:
        raise WorkbenchError(f"expected comma-separated integers, got '{text}'") from None


def quant_option(s) -> None:
    from workbench.models.families import cells_help
    from workbench.quantize import QUANT_SCHEMES

    s.add_argument("--quant", default="f32", choices=QUANT_SCHEMES,
                   help="kernel arithmetic: float32, or int16 weights/activations with int32 accumulators "
                        f"(cells per arithmetic: {cells_help()}) [f32]")


def quant_options(s) -> None:
    from workbench.pipeline.spec import KERNEL_PATHS

    quant_option(s)
    s.add_argument("--kernel", default="dsp", choices=KERNEL_PATHS,
                   help="int kernel path on the device: SMLAD (Cortex-M4 DSP) or plain C; same integers [dsp]")
