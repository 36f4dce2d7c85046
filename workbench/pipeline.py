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
    check_fits_before_build(mf, board)
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


@dataclass
class MemoryEstimate:
    """Lower bounds of a model's flash and RAM on a board, from the model file alone (no build):
    what the build must at least place. Source ``estimate``; the built ELF's figures replace it."""

    weights: int          # flash: every tensor, element_bytes each
    staging: int          # RAM: the device's input window buffer
    model_state: int      # RAM: kernel scratch + streaming brick ring
    stack: int            # RAM: the port's reserved stack

    @property
    def flash(self) -> int:
        return self.weights

    @property
    def ram(self) -> int:
        return self.staging + self.model_state + self.stack


def estimate_memory(mf: ModelFile, board: Board, element_bytes: int = 4) -> MemoryEstimate:
    from workbench.export.c import scratch_len

    cfg = mf.config
    levels = 2 if cfg.get("family") == "sharnn" else 1
    weights = sum(int(np.asarray(t).size) for t in mf.tensors.values()) * element_bytes
    try:
        scratch = scratch_len({**cfg, "cells": cfg["cells"][:levels], "hidden": cfg["hidden"][:levels]})
    except KeyError:          # a cell the float exporter does not know: the exporter says so later
        scratch = 0
    ring = (cfg["window"] // cfg["k"]) * cfg["hidden"][0] if levels == 2 and cfg.get("k") else 0
    return MemoryEstimate(weights=weights, staging=cfg["window"] * cfg["input_dim"] * element_bytes,
                          model_state=(scratch + ring) * element_bytes, stack=_port_stack_bytes(board))


def _port_stack_bytes(board: Board) -> int:
    import re

    from workbench.paths import firmware_dir

    port = board.backends.get("baremetal")
    mk = firmware_dir() / "ports" / str(port) / "port.mk"
    m = re.search(r"^STACK_SIZE\s*\??=\s*(\d+)", mk.read_text(), re.M) if port and mk.is_file() else None
    return int(m.group(1)) if m else 0


def check_fits_before_build(mf: ModelFile, board: Board) -> MemoryEstimate:
    """Refuse a model that cannot fit the board before spending a build (or a flash) on it."""
    est = estimate_memory(mf, board)
    if est.flash > board.flash_bytes:
        raise WorkbenchError(f"model does not fit board {board.name}: its weights alone need {est.flash:,} bytes "
                             f"of flash, the board has {board.flash_bytes:,} (estimate before build)")
    if est.ram > board.ram_bytes:
        raise WorkbenchError(f"model does not fit board {board.name}: it needs at least {est.ram:,} bytes of RAM "
                             f"(input {est.staging:,} + model state {est.model_state:,} + stack {est.stack:,}), "
                             f"the board has {board.ram_bytes:,} (estimate before build)")
    return est


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
                progress=None, fault_link=None, link_timeout: float | None = None):
    """Stream ``inputs`` through the firmware under QEMU. ``fault_link`` (a FaultSpec) puts the
    fault-injecting proxy on the serial line; ``link_timeout`` bounds the wait for any one answer.
    Whatever goes wrong, QEMU is reaped before this returns or raises."""
    from workbench.targets.qemu import QemuTarget

    target = QemuTarget(board, built.artifact.elf, use_plugin=use_plugin, workdir=built.artifact.elf.parent / "qemu",
                        fault_link=fault_link)
    session = run_on_target(target, built, inputs, stream=stream, progress=progress, link_timeout=link_timeout)
    return session, target, target.info()


def target_factory(board: Board, *, emulator: str | None = None, port: str | None = None,
                   renode: str | None = None, use_plugin: bool = True, fault_link=None):
    """What a run streams through: the real board on a serial port (``port``; "auto" finds it by the
    USB ids of its board file), else an emulator (``emulator``, else the board's first). What the
    target needs (the emulator, the port) is checked now, before a long build; the returned function
    opens the target on the built firmware. The fault-injecting proxy (``fault_link``) sits on QEMU's
    serial line only."""
    if fault_link is not None and (port or (emulator or "qemu") != "qemu" or "qemu" not in board.emulators):
        raise WorkbenchError("--fault-link works on QEMU targets only")
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
                                    workdir=built.artifact.elf.parent / "qemu", fault_link=fault_link)


def run_on_target(target, built: Built, inputs: np.ndarray, *, stream: bool = True, progress=None,
                  link_timeout: float | None = None):
    """Start ``target`` (QEMU, Renode, a board on a serial port), check that it runs this model,
    stream ``inputs`` through it and end the session; returns the session result. Whatever goes
    wrong, an emulator is reaped before this returns or raises."""
    from workbench.link.client import DEFAULT_TIMEOUT, DeviceLink
    from workbench.link.session import run_session
    from workbench.targets.qemu import close_serial

    with target:
        port = target.start()
        try:
            link = DeviceLink(port, timeout=link_timeout or DEFAULT_TIMEOUT, alive=target.alive)
            hello = link.hello()
            if hello.model_hash != built.model.content_hash[:16]:
                hint = "; flash it first: workbench flash" if target.kind == "hardware" else ""
                raise DeviceError(f"device runs model {hello.model_hash}, expected {built.model.content_hash[:16]}"
                                  f"{hint}")
            target.attach(hello)
            session = run_session(link, target.costs, inputs, stream=stream, progress=progress, hello=hello)
            link.exit(0)
        except DeviceError as exc:
            raise device_failure(target, exc) from None
        finally:
            close_serial(port)
        rc = target.stop()
    if rc not in (0, None):
        fault = target.fault()
        raise DeviceError(f"device fault: {fault}" if fault else
                          f"{target.process_name} exited with code {rc}: {target.log_tail()}")
    proxy = getattr(target, "proxy", None)
    if proxy is not None:
        session.link["fault_injection"] = {"spec": str(target.fault_link), **proxy.stats.as_dict()}
    return session


def device_failure(target, exc: DeviceError) -> DeviceError:
    """One line for a failed session: the device's own fault report when it crashed, else what the
    link saw plus how the emulator ended. The emulator is reaped either way."""
    from workbench.link.client import LinkClosed

    if target.proc is None:                 # a real board: nothing to reap, nothing more to say
        return exc
    if isinstance(exc, LinkClosed) or not target.alive():
        target.wait_exit(2.0)      # it is going: let it finish writing its fault report
    fault = target.fault()
    running = target.alive()
    target.kill()
    if fault:
        return DeviceError(f"device fault: {fault}")
    rc = target.proc.returncode if target.proc is not None else None
    name = target.process_name
    how = f"{name} killed" if running else f"{name} exited with code {rc}: {target.log_tail()}"
    return DeviceError(f"{exc}; {how}")
