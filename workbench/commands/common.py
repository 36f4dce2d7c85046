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


def data_options(s, calibration_only: bool = False) -> None:
    """--dataset and --calibration: the data a command streams or calibrates an int16 plan on."""
    s.add_argument("--dataset", help=("data the int16 plan is calibrated on (its training split) when the model's "
                                      "own is not where its file says: a name, .npz/.csv file or WAV folder "
                                      "[the model file's]") if calibration_only else
                   "dataset: a name, a .npz/.csv file or a folder of WAV files per class [the one the model file "
                   "records, found by its path and sha256]")
    s.add_argument("--calibration", metavar="DATA",
                   help="calibrate the int16 plan on this data set's training split instead of the model's "
                        "training data")


def calibration(args, mf):
    """The windows an int16 plan is calibrated on (None for f32): --calibration, else the model's
    training data (at --dataset when that is it, else where the model file records it)."""
    if getattr(args, "quant", "f32") == "f32":
        return None
    from workbench.pipeline.firmware import calibration_windows

    return calibration_windows(mf, args.dataset, args.calibration, model=args.model)
