"""Wiring of the stages for one firmware run: model file -> export -> build -> target -> session -> profile.

``workbench.pipeline.run`` (the CLI's ``run`` and ``demo``, the Python API) and sweeps call these;
each function takes the previous stage's product and nothing else.
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
from workbench.filesystem import locked
from workbench.models.modelfile import ModelFile
from workbench.paths import build_dir
from workbench.pipeline.spec import BuildOptions, RunSpec, check_cores, check_kernel_path, check_quantization

if TYPE_CHECKING:
    from workbench.quantize import QuantModel


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
    the data the model file records (``calibration_windows``)."""
    from workbench.quantize import quantize_model

    if check_quantization(quant) == "f32":
        return None
    return quantize_model(mf, calibration_windows(mf) if calib_x is None else calib_x, quant)


def calibration_windows(mf: ModelFile, given=None, calibration=None, *, model: str = "the model") -> np.ndarray:
    """The windows an int plan of ``mf`` is calibrated on: ``calibration`` (a data set's spec) if
    given, else the model's own training split (``given``, a Data, when it is that data; else found
    from the model file's record), as the model was trained on them."""
    from workbench.data.source import calibration_data

    data = model_windows(mf, calibration_data(mf.meta, given, calibration, model=model))
    check_windows(mf, data)
    return data.x


def model_windows(mf: ModelFile, data: Dataset) -> Dataset:
    """The dataset as the model was trained on it: uneven series re-aligned to the model's window
    when it was trained with --window (e.g. JapaneseVowels at 30 steps)."""
    prep = mf.meta.get("window_prep")
    if not prep or data.window_length == prep["window"]:
        return data
    from workbench.data import align_to_window

    return align_to_window(data, int(prep["window"]))


def export_and_build(mf: ModelFile, board: Board, backend: str = "baremetal", quant: str = "f32", *,
                     calib_x: np.ndarray | None = None, kernel_path: str = "dsp",
                     options: BuildOptions | None = None, root: Path | None = None) -> Built:
    from workbench.models.families import check_kernel_cells
    from workbench.models.modelfile import validate

    validate(mf)                   # a ModelFile made in Python, not loaded from a file, is checked too
    options = options or BuildOptions()
    check_kernel_path(kernel_path)
    check_quantization(quant)
    options.check(backend)
    check_kernel_cells(mf.config["cells"], quant)
    check_cores(options.cores, board, mf, backend)
    check_fits_before_build(mf, board, quant)
    qm = quantize(mf, quant, calib_x)
    root = Path(root) if root is not None else build_dir() / f"{mf.content_hash[:12]}"
    with locked(root):             # runs, sweeps and benchmarks of one model share its build folder
        info = export_c(mf, root / f"export-{quant}", qm)
        art = _build_firmware(board, info, root, backend, quant, kernel_path, options)
    check_fits(board, art)
    return Built(mf, info, art, root, qm, kernel_path)


def _build_firmware(board: Board, info: ExportInfo, root: Path, backend: str, quant: str, kernel_path: str,
                    options: BuildOptions) -> Artifact:
    if backend == "baremetal":
        from workbench.build import baremetal

        cflags = " ".join(filter(None, ["-DSHARNN_PORTABLE" if kernel_path == "portable" else "",
                                        options.extra_cflags]))
        art = baremetal.build(board, info, root / f"{board.name}-{quant}-{kernel_path}{options.tag}",
                              opt=options.opt, extra_cflags=cflags,
                              make_vars={"LINK": options.link, "CORES": str(options.cores),
                                         **({"BREAKDOWN": "1"} if options.breakdown else {})})
    elif backend == "zephyr":
        from workbench.build import zephyr

        art = zephyr.build(board, info, root / f"{board.name}-zephyr-{quant}-{kernel_path}{options.tag}",
                           portable=(kernel_path == "portable"), checkpoints=options.breakdown)
    else:
        raise WorkbenchError(f"unknown backend '{backend}' (have: baremetal, zephyr)")
    if options.breakdown:
        from workbench.targets.stages import patch_stage_table

        patch_stage_table(art.elf)
        if backend == "baremetal":
            baremetal.stamp(art)       # the patched ELF is the product a later build verifies
    return art


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


def estimate_memory(mf: ModelFile, board: Board, quant: str = "f32") -> MemoryEstimate:
    from workbench.export.c import scratch_len

    cfg = mf.config
    levels = 2 if cfg.get("family") == "sharnn" else 1
    element_bytes = 4 if quant == "f32" else 2
    weights = sum(int(np.asarray(t).size) for t in mf.tensors.values()) * element_bytes
    try:
        # The int kernels keep no gate buffers: only the float scratch is counted (a lower bound).
        scratch = scratch_len({**cfg, "cells": cfg["cells"][:levels], "hidden": cfg["hidden"][:levels]}) \
            if quant == "f32" else 0
    except KeyError:          # a cell the float exporter does not know: the exporter says so later
        scratch = 0
    ring = (cfg["window"] // cfg["k"]) * cfg["hidden"][0] if levels == 2 and cfg.get("k") else 0
    return MemoryEstimate(weights=weights, staging=cfg["window"] * cfg["input_dim"] * element_bytes,
                          model_state=(scratch + ring) * element_bytes, stack=_reserved_stack(board))


def _reserved_stack(board: Board) -> int:
    from workbench.build.baremetal import STACK_BYTES

    return STACK_BYTES if "baremetal" in board.backends else 0


def check_fits_before_build(mf: ModelFile, board: Board, quant: str = "f32") -> MemoryEstimate:
    """Refuse a model that cannot fit the board before spending a build (or a flash) on it."""
    est = estimate_memory(mf, board, quant)
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
        raise WorkbenchError(f"model needs {mem.flash_total} bytes of flash; board {board.name} has "
                             f"{board.flash_bytes}")
    if mem.ram_total > board.ram_bytes:
        raise WorkbenchError(f"model needs {mem.ram_total} bytes of RAM; board {board.name} has {board.ram_bytes}")


def check_windows(mf: ModelFile, data: Dataset) -> None:
    """The data's windows are the shape the model takes (T steps of D channels)."""
    cfg = mf.config
    if data.window_length != cfg["window"] or data.num_channels != cfg["input_dim"]:
        raise WorkbenchError(f"dataset {data.name} windows are {data.window_length}x{data.num_channels}; "
                             f"the model takes {cfg['window']}x{cfg['input_dim']}")


def device_inputs(built, data: Dataset) -> np.ndarray:
    """The dataset in the form the device takes (``built``: anything with ``export`` and ``quant``, a
    firmware build or a MicroPython deployment): float32 raw windows, or for int plans the int16
    windows of the host-side input quantizer (normalisation folded in, channels padded to even)."""
    check_windows(built.model, data)
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


def check_finite_logits(logits: np.ndarray, where: str) -> None:
    """A model whose float logits overflow (huge weights) has no class to score: refused in one line
    before a device is asked (an argmax over inf and NaN still picks a class, and JSON has no inf)."""
    bad = ~np.isfinite(np.asarray(logits, dtype=np.float64)).all(axis=-1)
    if bad.any():
        raise WorkbenchError(f"the model's logits are not finite (inf or NaN) on {int(bad.sum())} of {len(bad)} "
                             f"windows of {where} (first: window {int(np.argmax(bad))}): its weights overflow "
                             "float32, so no class can be scored")


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
                progress=None, sliding: np.ndarray | None = None, fault_link=None,
                link_timeout: float | None = None, link: str = "uart"):
    """Stream ``inputs`` through the firmware under QEMU: every window full (and streamed from
    staging when ``stream``); then, if ``sliding`` (a long stream [L, D]) is given, push it brick by
    brick as a sensor would (session.extra["sliding"]). ``fault_link`` (a FaultSpec) puts the
    fault-injecting proxy on the serial line; ``link_timeout`` bounds the wait for any one answer;
    ``link`` is the link ``built`` was built with (BuildOptions.link).
    Whatever goes wrong, QEMU is reaped before this returns or raises."""
    target = target_factory(board, emulator="qemu", use_plugin=use_plugin, fault_link=fault_link, link=link)(built)
    session = run_on_target(target, built, inputs, stream=stream, progress=progress, sliding=sliding,
                            link_timeout=link_timeout)
    return session, target, target.info()


def target_factory(board: Board, *, emulator: str | None = None, port: str | None = None,
                   renode: str | None = None, use_plugin: bool = True, fault_link=None, link: str = "uart"):
    """What a run streams through: the real board on a serial port (``port``; "auto" finds it by the
    USB ids of its board file), else an emulator (``emulator``, else the board's first). What the
    target needs (the emulator, the port) is checked now, before a long build; the returned function
    opens the target on the built firmware. The fault-injecting proxy (``fault_link``) sits on QEMU's
    serial line; ``link`` "semihost" carries the frames through QEMU semihosting instead of the UART
    (a firmware built with that link). Which of these combine is RunSpec.check_for's to say."""
    if port:
        from workbench.targets.hardware import HardwareTarget, find_serial_port

        port = find_serial_port(board) if port == "auto" else port
        return lambda built: HardwareTarget(board, port)
    emulator = emulator or next((e for e in ("qemu", "renode") if e in board.emulators), None)
    if emulator is None:
        raise WorkbenchError(f"board {board.name} has no emulator: flash it (workbench flash) and pass --port")
    if emulator not in board.emulators:
        raise WorkbenchError(f"board {board.name} cannot run in {emulator} (its board file has: "
                             f"{', '.join(board.emulators) or 'no emulator'})")
    if emulator == "renode":
        from workbench.targets.renode import RenodeTarget, renode_command, renode_root

        renode_root(renode_command(renode))
        return lambda built: RenodeTarget(board, built.artifact.elf, renode=renode)
    from workbench.targets.qemu import QemuTarget, qemu_binary

    qemu_binary()
    return lambda built: QemuTarget(board, built.artifact.elf, use_plugin=use_plugin, fault_link=fault_link,
                                    link=link)


def run_on_target(target, built: Built, inputs: np.ndarray, *, stream: bool = True, progress=None,
                  sliding: np.ndarray | None = None, link_timeout: float | None = None):
    """Start ``target`` (QEMU, Renode, a board on a serial port), check that it runs this model,
    stream ``inputs`` through it and end the session; returns the session result. Whatever goes
    wrong, an emulator is reaped before this returns or raises."""
    from workbench.link.client import DEFAULT_TIMEOUT, DeviceLink
    from workbench.link.session import run_session, run_sliding
    from workbench.targets import ProcessTarget
    with target:
        port = target.start()
        try:
            # alive(): only an emulator process can be seen to die; a board's link just goes quiet.
            link = DeviceLink(port, timeout=link_timeout or DEFAULT_TIMEOUT, max_frame=target.max_frame,
                              alive=target.alive if isinstance(target, ProcessTarget) else None)
            hello = link.hello()
            if hello.model_hash != built.model.content_hash[:16]:
                hint = "; flash it first: workbench flash" if target.kind == "hardware" else ""
                raise DeviceError(f"device runs model {hello.model_hash}, expected {built.model.content_hash[:16]}"
                                  f"{hint}")
            quant = built.export.quantization
            if hello.input_dtype != ("f32" if quant == "f32" else "i16"):
                hint = f"; flash it first: workbench flash --quant {quant}" if target.kind == "hardware" else ""
                raise DeviceError(f"device runs this model with {hello.input_dtype} inputs, this run is --quant "
                                  f"{quant}{hint}")
            target.attach(hello)
            session = run_session(link, target.costs, inputs, stream=stream, progress=progress, hello=hello)
            if sliding is not None:
                session.extra["sliding"] = run_sliding(link, target.costs, sliding, progress=progress, hello=hello)
            link.exit(0)
        except DeviceError as exc:
            raise device_failure(target, exc, built.artifact.elf) from None
        finally:
            target.close_port(port)
        rc = target.stop()
    if rc not in (0, None):
        fault = target.fault()
        raise DeviceError(f"device fault: {fault}" if fault else
                          f"{target.process_name} exited with code {rc}: {target.log_tail()}")
    proxy = getattr(target, "proxy", None)
    if proxy is not None:
        session.link["fault_injection"] = {"spec": str(target.fault_link), **proxy.stats.as_dict()}
    return session


def device_failure(target, exc: DeviceError, elf: Path | None = None) -> DeviceError:
    """One line for a failed session: the device's own fault report when it crashed (a fault frame
    on the link, or an emulator's log), else what the link saw plus how the emulator ended, or on a
    board what to check. The emulator is reaped either way. ``elf``: the firmware, to name the
    functions at the fault's addresses."""
    from workbench.link.client import DeviceFault, LinkClosed
    from workbench.targets.faults import describe_fault_frame

    if isinstance(exc, DeviceFault):
        if target.proc is not None:
            target.kill()
        after = "the device rebooted" if target.proc is None else f"{target.process_name} killed"
        return DeviceError(f"device fault: {describe_fault_frame(exc.fault, elf)}; {after}")
    if target.proc is None:                 # a real board: nothing to reap; say what to check
        hint = target.failure_hint(exc)
        return DeviceError(f"{exc}; {hint}") if hint else exc
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
    return DeviceError(f"{exc}{_proxy_note(target)}; {how}")


def _proxy_note(target) -> str:
    """What the fault-injecting link let through, when one was in the way (drop=1 cuts the line: the
    firmware is not to blame)."""
    proxy = getattr(target, "proxy", None)
    if proxy is None:
        return ""
    down, up = proxy.stats.to_device, proxy.stats.to_host
    return (f"; --fault-link delivered {down.bytes_out} of {down.bytes_in} bytes to the device and "
            f"{up.bytes_out} of {up.bytes_in} to the host")


def profile_model(mf: ModelFile, board: Board, data: Dataset, spec: RunSpec, *, root: Path | None = None,
                  progress=None, on_stage=None, calib_x: np.ndarray | None = None) -> dict:
    """One whole run as ``spec`` describes it (already checked): export, build, host references,
    device session; returns the profile (not written). ``data``: the windows to stream (already
    selected). ``on_stage(text)`` hears which stage is running (a CLI prints it; a sweep worker
    reports it); ``root``: the build folder [build/<model hash>]; ``calib_x``: the windows an int plan is
    calibrated on [the model's training data]."""
    from workbench.build.baremetal import gcc_version
    from workbench.profile import new_profile
    from workbench.profile.metrics import session_metrics, sliding_metrics, two_core_metrics

    stage = on_stage or (lambda text: None)
    backend = spec.backend or board.default_backend
    faults = spec.faults
    open_target = target_factory(board, emulator=spec.emulator, port=spec.port, renode=spec.renode,
                                 use_plugin=(spec.counter == "plugin"), fault_link=faults, link=spec.build.link)
    stage(f"build firmware for {board.name} ({backend}, {spec.quant}, {spec.kernel_path} kernel)")
    built = export_and_build(mf, board, backend, quant=spec.quant, kernel_path=spec.kernel_path,
                             options=spec.build, root=root, calib_x=calib_x)
    target = open_target(built)
    inputs = device_inputs(built, data)
    stage("host references (C kernel for this machine, torch" + (", numpy integer reference)" if built.quant else ")"))
    host = host_logits(built, inputs)
    check_finite_logits(host, "the host C kernel")
    golden = reference_logits(built, inputs)
    ref = torch_logits(mf, data)
    long_stream = stream_of_windows(inputs) if spec.sliding else None
    stage(f"streaming {len(inputs)} {data.name} {data.split} windows through {target.describe()}"
          + (f" over a faulty link ({faults})" if faults else "")
          + (", then all of them end to end by bricks" if spec.sliding else ""))
    session = run_on_target(target, built, inputs, stream=spec.stream, progress=progress, sliding=long_stream,
                            link_timeout=spec.link_timeout)
    target_info = target.info()
    metrics, windows = session_metrics(session, data.y, host, ref, target.measure, built.artifact.memory,
                                       data.num_classes, reference_logits=golden)
    if getattr(target, "core_costs", None):
        metrics.update(two_core_metrics(target.core_costs, session.stats, built.artifact.memory, target.measure,
                                        windows))
    if spec.sliding:
        metrics.update(sliding_metrics(session.extra["sliding"], host_sliding_logits(built, long_stream),
                                       reference_sliding_logits(built, long_stream), data.y,
                                       built.export.window // built.export.k, target.measure))
    from workbench.profile.breakdown import add_breakdown

    breakdown = add_breakdown(metrics, windows, session, target, board)
    model = model_summary(mf, built.export)
    model["kernel_path"] = spec.kernel_path
    return new_profile(
        board=board.name, target=target_info, backend=built.artifact.backend, model=model,
        dataset=dataset_summary(data, len(inputs)), metrics=metrics, windows=windows,
        tool_versions={"arm-none-eabi-gcc": gcc_version(), **built_versions(built), **target.versions(),
                       "host-cc": host_cc_version()},
        extra={"build": {"opt": spec.build.opt, "extra_cflags": spec.build.extra_cflags},
               "link": {"transport": spec.build.link, **session.link},
               "device_stats": session.stats, "handshake": dict(vars(session.hello)), **breakdown})


def dataset_summary(data: Dataset, count: int) -> dict:
    """What a profile records of the data it streamed (and where it came from: workbench.data.source)."""
    source = data.meta.get("provenance")
    return {"name": data.name, "split": data.split, "count": count, "class_names": data.class_names,
            **({"source": source} if source else {})}


def host_cc_version() -> str:
    import subprocess

    from workbench.build.host import host_compiler

    out = subprocess.run([host_compiler(), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def built_versions(built: Built) -> dict[str, str]:
    """What built the firmware, beyond the host's arm-none-eabi-gcc (Zephyr: its version and compiler)."""
    extra = built.artifact.extra
    if built.artifact.backend != "zephyr":
        return {}
    return {"zephyr": extra["zephyr_version"], "zephyr-toolchain": f"{extra['toolchain_variant']}: "
                                                                    f"{built.artifact.toolchain}"}
