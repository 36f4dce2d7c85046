"""Wiring of the stages for one run: model file -> export -> build -> target -> session -> profile.

The CLI's ``run`` and ``demo`` (and sweeps) call these; each function takes the previous stage's
product and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.boards import Board
from workbench.build import Artifact
from workbench.data import Dataset
from workbench.errors import DeviceError, WorkbenchError
from workbench.export.c import ExportInfo, export_c
from workbench.models.modelfile import ModelFile
from workbench.paths import build_dir


@dataclass
class Built:
    model: ModelFile
    export: ExportInfo
    artifact: Artifact
    root: Path


def model_summary(mf: ModelFile, info: ExportInfo) -> dict:
    cfg = mf.config
    model = mf.build()
    return {"family": cfg["family"], "cells": cfg["cells"], "hidden": cfg["hidden"], "k": info.k,
            "T": cfg["window"], "input_dim": cfg["input_dim"], "num_classes": cfg["num_classes"],
            "quantization": info.quantization, "parameters": info.parameters, "sha256": mf.content_hash,
            "macs": model.macs(), "meta": {k: v for k, v in mf.meta.items() if k in ("dataset", "seed", "train")}}


# Quantizations this build can export and run; the quantize stage extends the list as it lands.
QUANTIZATIONS = ("f32",)


@dataclass(frozen=True)
class BuildOptions:
    """Compiler knobs of a firmware build (recorded in the profile: they change every cost)."""

    opt: str = "-O2"
    extra_cflags: str = ""

    @property
    def tag(self) -> str:
        """A folder name that separates builds with different knobs (make does not track flags)."""
        if self == BuildOptions():
            return ""
        import hashlib

        return "-" + hashlib.sha256(f"{self.opt}\0{self.extra_cflags}".encode()).hexdigest()[:8]


def check_quantization(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise WorkbenchError(f"quantization '{quantization}' is not supported by this build "
                             f"(have: {', '.join(QUANTIZATIONS)})")
    return quantization


def export_and_build(mf: ModelFile, board: Board, backend: str = "baremetal", *, quantization: str = "f32",
                     options: BuildOptions = BuildOptions(), root: Path | None = None) -> Built:
    check_quantization(quantization)
    root = Path(root) if root is not None else build_dir() / f"{mf.content_hash[:12]}"
    info = export_c(mf, root / "export")
    if backend == "baremetal":
        from workbench.build import baremetal

        art = baremetal.build(board, info, root / f"{board.name}{options.tag}", opt=options.opt,
                              extra_cflags=options.extra_cflags)
    else:
        raise WorkbenchError(f"unknown backend '{backend}' (have: baremetal)")
    check_fits(board, art)
    return Built(mf, info, art, root)


def check_fits(board: Board, art: Artifact) -> None:
    mem = art.memory
    if mem.flash_total > board.flash_bytes:
        raise WorkbenchError(f"model needs {mem.flash_total} bytes of flash; board {board.name} has {board.flash_bytes}")
    if mem.ram_total > board.ram_bytes:
        raise WorkbenchError(f"model needs {mem.ram_total} bytes of RAM; board {board.name} has {board.ram_bytes}")


def device_inputs(info: ExportInfo, data: Dataset) -> np.ndarray:
    """The dataset in the form the device takes (float32 now; the quantize stage adds int16)."""
    if data.window_length != info.window or data.num_channels != info.input_dim:
        raise WorkbenchError(f"dataset {data.name} windows are {data.window_length}x{data.num_channels}; "
                             f"the model takes {info.window}x{info.input_dim}")
    return data.x.astype("<f4")


def host_logits(built: Built, inputs: np.ndarray) -> np.ndarray:
    from workbench.build.host import HostKernel, build_host_library

    kernel = HostKernel(build_host_library(built.export, built.root / "host"), built.export)
    return np.stack([kernel.infer(x) for x in inputs])


def torch_logits(mf: ModelFile, data: Dataset) -> np.ndarray:
    from workbench.models.train import predict_logits

    return predict_logits(mf.build(), data.x)


def run_on_qemu(board: Board, built: Built, inputs: np.ndarray, *, stream: bool = True, use_plugin: bool = True,
                progress=None):
    from workbench.link.client import DeviceLink
    from workbench.link.session import run_session
    from workbench.targets.qemu import QemuTarget

    target = QemuTarget(board, built.artifact.elf, use_plugin=use_plugin, workdir=built.artifact.elf.parent / "qemu")
    with target:
        port = target.start()
        try:
            link = DeviceLink(port, alive=target.alive)
            hello = link.hello()
            if hello.model_hash != built.model.content_hash[:16]:
                raise DeviceError(f"device runs model {hello.model_hash}, expected {built.model.content_hash[:16]}")
            session = run_session(link, target.costs, inputs, stream=stream, progress=progress, hello=hello)
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


def profile_model(mf: ModelFile, board: Board, data: Dataset, split: str, *, counter: str = "plugin",
                  stream: bool = True, options: BuildOptions = BuildOptions(), quantization: str = "f32",
                  root: Path | None = None, progress=None, on_stage=None) -> dict:
    """One whole run: export, build, host reference, QEMU session; returns the profile (not written).

    ``on_stage(text)`` hears which stage is running (a CLI prints it; a sweep worker reports it).
    """
    from workbench.build.baremetal import gcc_version
    from workbench.profile import new_profile
    from workbench.profile.metrics import session_metrics

    stage = on_stage or (lambda text: None)
    stage(f"build firmware for {board.name}")
    built = export_and_build(mf, board, quantization=quantization, options=options, root=root)
    inputs = device_inputs(built.export, data)
    stage("host reference (C kernel for this machine, torch)")
    host = host_logits(built, inputs)
    ref = torch_logits(mf, data)
    stage(f"streaming {len(inputs)} {data.name} {split} windows through QEMU ({board.qemu['machine']})")
    session, target, target_info = run_on_qemu(board, built, inputs, stream=stream, use_plugin=(counter == "plugin"),
                                               progress=progress)
    metrics, windows = session_metrics(session, data.y, host, ref, target.measure, built.artifact.memory,
                                       data.num_classes)
    return new_profile(
        board=board.name, target=target_info, backend=built.artifact.backend, model=model_summary(mf, built.export),
        dataset={"name": data.name, "split": split, "count": len(inputs), "class_names": data.class_names},
        metrics=metrics, windows=windows,
        tool_versions={"arm-none-eabi-gcc": gcc_version(), **target.versions(), "host-cc": host_cc_version()},
        extra={"build": {"opt": options.opt, "extra_cflags": options.extra_cflags}, "link": session.link,
               "device_stats": session.stats, "handshake": dict(vars(session.hello))})


def host_cc_version() -> str:
    import subprocess

    from workbench.build.host import host_compiler

    out = subprocess.run([host_compiler(), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"
