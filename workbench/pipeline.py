"""Wiring of the stages for one run: model file -> export -> build -> target -> session -> profile.

The CLI's ``run`` and ``demo`` (and sweeps) call these; each function takes the previous stage's
product and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.boards import Board
from workbench.build import Artifact
from workbench.data import Dataset
from workbench.errors import DeviceError, WorkbenchError
from workbench.export.c import ExportInfo, export_c
from workbench.models.modelfile import ModelFile
from workbench.paths import build_dir

if TYPE_CHECKING:
    from workbench.quantize import QuantModel


KERNEL_PATHS = ("dsp", "portable")


@dataclass
class Built:
    model: ModelFile
    export: ExportInfo
    artifact: Artifact
    root: Path
    quant: QuantModel | None = None        # the int plan (None for f32)
    kernel_path: str = "dsp"               # dsp: SMLAD path where the core has DSP; portable: plain C


def model_summary(mf: ModelFile, info: ExportInfo) -> dict:
    cfg = mf.config
    model = mf.build()
    return {"family": cfg["family"], "cells": cfg["cells"], "hidden": cfg["hidden"], "k": info.k,
            "T": cfg["window"], "input_dim": cfg["input_dim"], "num_classes": cfg["num_classes"],
            "quantization": info.quantization, "parameters": info.parameters, "sha256": mf.content_hash,
            "macs": model.macs(), "meta": {k: v for k, v in mf.meta.items() if k in ("dataset", "seed", "train")},
            **({"quant_plan": info.plan} if info.plan else {})}


def quantize(mf: ModelFile, quant: str, calib_x: np.ndarray | None = None):
    """The int plan of ``mf`` (None for f32), calibrated on ``calib_x`` or on the training split of
    the dataset the model file names."""
    from workbench.quantize import QUANT_SCHEMES, quantize_model

    if quant not in QUANT_SCHEMES:
        raise WorkbenchError(f"unknown quantization '{quant}' (have: {', '.join(QUANT_SCHEMES)})")
    if quant == "f32":
        return None
    if calib_x is None:
        from workbench.data import load_dataset

        name = mf.meta.get("dataset")
        if not name:
            raise WorkbenchError("the model file does not name its dataset: no calibration data for the int plan")
        calib_x = load_dataset(name, "train").x
    return quantize_model(mf, calib_x, quant)


def export_and_build(mf: ModelFile, board: Board, backend: str = "baremetal", quant: str = "f32", *,
                     calib_x: np.ndarray | None = None, kernel_path: str = "dsp") -> Built:
    if kernel_path not in KERNEL_PATHS:
        raise WorkbenchError(f"unknown kernel path '{kernel_path}' (have: {', '.join(KERNEL_PATHS)})")
    qm = quantize(mf, quant, calib_x)
    root = build_dir() / f"{mf.content_hash[:12]}"
    info = export_c(mf, root / f"export-{quant}", qm)
    if backend == "baremetal":
        from workbench.build import baremetal

        cflags = "-DSHARNN_PORTABLE" if kernel_path == "portable" else ""
        art = baremetal.build(board, info, root / f"{board.name}-{quant}-{kernel_path}", extra_cflags=cflags)
    else:
        raise WorkbenchError(f"unknown backend '{backend}' (have: baremetal)")
    check_fits(board, art)
    return Built(mf, info, art, root, qm, kernel_path)


def check_fits(board: Board, art: Artifact) -> None:
    mem = art.memory
    if mem.flash_total > board.flash_bytes:
        raise WorkbenchError(f"model needs {mem.flash_total} bytes of flash; board {board.name} has {board.flash_bytes}")
    if mem.ram_total > board.ram_bytes:
        raise WorkbenchError(f"model needs {mem.ram_total} bytes of RAM; board {board.name} has {board.ram_bytes}")


def device_inputs(built: Built, data: Dataset) -> np.ndarray:
    """The dataset in the form the device takes: float32 raw windows, or for int plans the int16
    windows of the host-side input quantizer (normalisation folded in, channels padded to even)."""
    info = built.export
    if data.window_length != info.window or data.num_channels != info.input_dim:
        raise WorkbenchError(f"dataset {data.name} windows are {data.window_length}x{data.num_channels}; "
                             f"the model takes {info.window}x{info.input_dim}")
    if built.quant is None:
        return data.x.astype("<f4")
    return built.quant.quantize_inputs(data.x).astype("<i2")


def host_kernel(built: Built):
    """The same kernel, glue and model compiled for this machine (portable C path)."""
    from workbench.build.host import HostKernel, build_host_library

    return HostKernel(build_host_library(built.export, built.root / "host"), built.export)


def host_logits(built: Built, inputs: np.ndarray) -> np.ndarray:
    kernel = host_kernel(built)
    return np.stack([kernel.infer(x) for x in inputs])


def reference_logits(built: Built, inputs: np.ndarray) -> np.ndarray | None:
    """The numpy integer reference's logits (int plans only): the golden model."""
    if built.quant is None:
        return None
    from workbench.quantize import reference

    return reference.infer(built.quant, inputs).astype("<i4")


def stream_of_windows(inputs: np.ndarray) -> np.ndarray:
    """Windows [N, T, D] laid end to end: one long stream [N*T, D] to slide over."""
    return np.ascontiguousarray(inputs.reshape(-1, inputs.shape[-1]))


def host_sliding_logits(built: Built, stream: np.ndarray) -> list[np.ndarray | None]:
    """The host C kernel pushed brick by brick over ``stream`` (what the device must answer)."""
    kernel = host_kernel(built)
    kernel.stream_reset()
    k = built.export.k
    return [kernel.stream_push(stream[i:i + k]) for i in range(0, len(stream), k)]


def reference_sliding_logits(built: Built, stream: np.ndarray) -> np.ndarray | None:
    if built.quant is None:
        return None
    from workbench.quantize import reference

    return reference.sliding(built.quant, stream).astype("<i4")


def torch_logits(mf: ModelFile, data: Dataset) -> np.ndarray:
    from workbench.models.train import predict_logits

    return predict_logits(mf.build(), data.x)


def run_on_qemu(board: Board, built: Built, inputs: np.ndarray, *, stream: bool = True, use_plugin: bool = True,
                progress=None, sliding: np.ndarray | None = None):
    """Boot the firmware under QEMU and run the session: every window full (and streamed from
    staging when ``stream``); then, if ``sliding`` (a long stream [L, D]) is given, push it brick by
    brick as a sensor would (session.extra["sliding"])."""
    from workbench.link.client import DeviceLink
    from workbench.link.session import run_session, run_sliding
    from workbench.targets.qemu import QemuTarget

    target = QemuTarget(board, built.artifact.elf, use_plugin=use_plugin,
                        workdir=built.artifact.elf.parent / "qemu")
    with target:
        port = target.start()
        try:
            link = DeviceLink(port, alive=target.alive)
            hello = link.hello()
            if hello.model_hash != built.model.content_hash[:16]:
                raise DeviceError(f"device runs model {hello.model_hash}, expected {built.model.content_hash[:16]}")
            session = run_session(link, target.costs, inputs, stream=stream, progress=progress, hello=hello)
            if sliding is not None:
                session.extra["sliding"] = run_sliding(link, target.costs, sliding, progress=progress, hello=hello)
            link.exit(0)
        except DeviceError as exc:
            fault = target.fault()
            if fault:
                raise DeviceError(f"device fault: {fault}") from None
            raise exc
        finally:
            port.close()
        rc = target.stop()
    if rc not in (0, None):
        raise DeviceError(f"QEMU exited with code {rc}: {target.log_tail()}")
    target_info = {"kind": "qemu", "machine": board.qemu["machine"], "counter": target.measure.source,
                   "counter_note": target.measure.note}
    return session, target, target_info
