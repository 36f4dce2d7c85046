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


def export_and_build(mf: ModelFile, board: Board, backend: str = "baremetal") -> Built:
    root = build_dir() / f"{mf.content_hash[:12]}"
    info = export_c(mf, root / "export")
    if backend == "baremetal":
        from workbench.build import baremetal

        art = baremetal.build(board, info, root / board.name)
    elif backend == "zephyr":
        from workbench.build import zephyr

        art = zephyr.build(board, info, root / f"{board.name}-zephyr")
    else:
        raise WorkbenchError(f"unknown backend '{backend}' (have: baremetal, zephyr)")
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
    from workbench.targets.qemu import QemuTarget

    target = QemuTarget(board, built.artifact.elf, use_plugin=use_plugin,
                        workdir=built.artifact.elf.parent / "qemu")
    session = run_on_target(target, built, inputs, stream=stream, progress=progress)
    return session, target, target.info()


def target_factory(board: Board, *, emulator: str | None = None, port: str | None = None,
                   renode: str | None = None, use_plugin: bool = True):
    """What a run streams through: the real board on a serial port (``port``; "auto" finds it by the
    USB ids of its board file), else an emulator (``emulator``, else the board's first). What the
    target needs (the emulator, the port) is checked now, before a long build; the returned function
    opens the target on the built firmware."""
    if port:
        from workbench.targets.hardware import BoardTarget, find_serial_port

        port = find_serial_port(board) if port == "auto" else port
        return lambda built: BoardTarget(board, port)
    emulator = emulator or next((e for e in ("qemu", "renode") if e in board.emulators), None)
    if emulator is None:
        raise WorkbenchError(f"board {board.name} has no emulator: flash it (workbench flash) and pass --port")
    if emulator not in board.emulators:
        raise WorkbenchError(f"board {board.name} cannot run in {emulator} (its board file has: "
                             f"{', '.join(board.emulators) or 'no emulator'})")
    if emulator == "renode":
        from workbench.targets.renode import RenodeTarget, renode_command, renode_root

        renode_root(renode_command(renode))
        return lambda built: RenodeTarget(board, built.artifact.elf, renode=renode,
                                          workdir=built.artifact.elf.parent / "renode")
    from workbench.targets.qemu import QemuTarget, qemu_binary

    qemu_binary()
    return lambda built: QemuTarget(board, built.artifact.elf, use_plugin=use_plugin,
                                    workdir=built.artifact.elf.parent / "qemu")


def run_on_target(target, built: Built, inputs: np.ndarray, *, stream: bool = True, progress=None):
    """Start ``target`` (QEMU, Renode, a board on a serial port), check that it runs this model,
    stream ``inputs`` through it and end the session; returns the session result."""
    from workbench.link.client import DeviceLink
    from workbench.link.session import run_session

    with target:
        port = target.start()
        try:
            link = DeviceLink(port, alive=target.alive)
            hello = link.hello()
            if hello.model_hash != built.model.content_hash[:16]:
                hint = "; flash it first: workbench flash" if target.kind == "hardware" else ""
                raise DeviceError(f"device runs model {hello.model_hash}, expected {built.model.content_hash[:16]}"
                                  f"{hint}")
            target.attach(hello)
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
        raise DeviceError(f"{target.kind} exited with code {rc}: {target.log_tail()}")
    return session
