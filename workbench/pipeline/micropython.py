"""The MicroPython path of a run: a model as files (export), .mpy builds for the board's
architecture, copied with mpremote and run through the board's REPL (or the MicroPython unix port
standing in for a board), then the profile. Used by ``workbench.pipeline.run`` and ``workbench deploy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.errors import WorkbenchError

MICROPYTHON_BOARD = "pyboard"                      # the default board of `workbench deploy` and `export`
KERNEL_CHOICES = ("auto", "natmod", "viper", "py")


@dataclass
class Prepared:
    model: object              # ModelFile
    quant: object              # QuantModel, or None for f32
    export: object             # MicroPythonExport
    build: object              # MicroPythonBuild


def prepare(mf, board, arch: str, kernel: str, quant: str = "f32", mpy_dir=None, calib_x=None) -> Prepared:
    """Export, build for ``arch`` and check the board can hold it; nothing touches the device yet.
    ``calib_x``: calibration windows for an int plan [the model's dataset, training split]."""
    from workbench.build import micropython as mpbuild
    from workbench.export.micropython import export_micropython
    from workbench.filesystem import locked
    from workbench.paths import build_dir
    from workbench.pipeline.firmware import quantize

    mpy_dir = mpbuild.micropython_dir(mpy_dir)
    if kernel == "auto":
        kernel = "natmod" if mpy_dir is not None else "viper"
    qm = quantize(mf, quant, calib_x)
    root = build_dir() / mf.content_hash[:12] / f"micropython-{quant}"
    with locked(root):             # runs of one model at once build in turn
        info = export_micropython(mf, root / "export", qm)
        built = mpbuild.build(info, arch, root / arch, kernel, mpy_dir)
    mpbuild.check_fits(board, built, info)
    return Prepared(mf, qm, info, built)


def run_on_device(prep: Prepared, target, inputs, *, stream: bool = True, progress=None, what: str = "",
                  on_stage=None):
    """Start ``target``, copy the build with mpremote, load the model, stream ``inputs`` through the
    REPL; returns the session and the target's tool versions."""
    from workbench.targets.micropython import ReplLink, open_model, run_repl_session

    stage = on_stage or (lambda text: None)
    with target:
        link = ReplLink(target.start())
        try:
            stage(f"copying {len(prep.build.files)} files ({prep.build.file_bytes:,} bytes) to {link.url} with "
                  "mpremote")
            link.put(prep.build.files, progress=progress)
            hello = open_model(link, prep.build.kernel)
            if hello.model_hash != prep.model.content_hash[:16]:
                raise WorkbenchError(f"the device loaded model {hello.model_hash}, expected "
                                     f"{prep.model.content_hash[:16]}")
            stage(f"streaming {len(inputs)} {what} windows through the REPL ({target.kind}, kernel {hello.kernel})")
            session = run_repl_session(link, hello, inputs, prep.export.output_dtype, stream=stream,
                                       progress=progress)
        finally:
            link.close()
        return session, target.versions()


def device_inputs(prep: Prepared, data):
    """The dataset in the device's input type (the same rule as a firmware build's: both carry
    ``export`` and ``quant``)."""
    from workbench.pipeline.firmware import device_inputs as build_inputs

    return build_inputs(prep, data)


def host_reference(prep: Prepared, inputs):
    """Logits the device must reproduce: the numpy integer reference for int plans (bit for bit);
    for f32 the host build of the sharnn C kernel (bit for bit from the native module; the Python
    kernels compute in the port's float, so within a tolerance)."""
    if prep.quant is not None:
        from workbench.quantize import reference

        return reference.infer(prep.quant, inputs).astype("<i4")
    return host_c_logits(prep, inputs)


def host_c_logits(prep: Prepared, inputs):
    """The same model through the sharnn C kernel compiled for this machine."""
    import numpy as np

    from workbench.build.host import HostKernel, build_host_library
    from workbench.export.c import export_c
    from workbench.filesystem import locked
    from workbench.paths import build_dir

    root = build_dir() / prep.model.content_hash[:12] / f"micropython-{prep.export.quantization}"
    with locked(root):
        c_info = export_c(prep.model, root / "c-export", *([prep.quant] if prep.quant is not None else []))
    kernel = HostKernel(build_host_library(c_info, root / "host"), c_info)
    return np.stack([kernel.infer(x) for x in inputs])


def profile_micropython(mf, board, data, spec, *, progress=None, on_stage=None, calib_x=None) -> dict:
    """``workbench run`` on a MicroPython board (``spec.port``), else on the unix port: export, build,
    copy, stream ``data``; returns the profile (not written). ``calib_x``: as for ``prepare``."""
    from workbench.build.micropython import board_arch
    from workbench.targets.micropython import MicroPythonBoardTarget, UnixPortTarget

    emulator = None if spec.port else "micropython-unix"
    prep = prepare(mf, board, board_arch(board, emulator), spec.mpy_kernel, spec.quant, spec.micropython_dir,
                   calib_x)
    inputs = device_inputs(prep, data)
    target = MicroPythonBoardTarget(spec.port) if spec.port else UnixPortTarget()    # its own scratch folder
    session, versions = run_on_device(prep, target, inputs, stream=spec.stream, progress=progress,
                                      what=f"{data.name} {data.split}", on_stage=on_stage)
    return micropython_profile(board, target, prep, data, session, versions)


def micropython_profile(board, target, prep, data, session, versions) -> dict:
    import numpy as np

    from workbench.pipeline.firmware import check_finite_logits, dataset_summary, model_summary, torch_logits
    from workbench.profile import metric, new_profile
    from workbench.profile.metrics import session_metrics

    mf, info, built = prep.model, prep.export, prep.build
    inputs = device_inputs(prep, data)
    host = host_c_logits(prep, inputs)
    check_finite_logits(host, "the host C kernel")
    golden = {} if prep.quant is None else {"reference_logits": host_reference(prep, inputs)}
    metrics, windows = session_metrics(session, data.y, host, torch_logits(mf, data), target.measure, None,
                                       data.num_classes, **golden)
    dev = np.stack([w.logits for w in session.windows])
    gap = float(np.abs(dev.astype(np.float64) - host).max())
    metrics["agreement.device_host_max_abs"] = metric(gap if np.isfinite(gap) else None, "logit units",
                                                      "device-output")      # null: a device logit was inf/NaN
    metrics["ram.heap_model"] = metric(session.hello.heap_bytes, "bytes", "micropython-gc")
    metrics["ram.heap_estimate"] = metric(built.heap_bytes, "bytes", "estimate")
    metrics["flash.files"] = metric(built.file_bytes, "bytes", "file-size")
    for name, path in built.files.items():
        metrics[f"flash.file.{name}"] = metric(path.stat().st_size, "bytes", "file-size")
    model = model_summary(mf, info)
    target_info = {"kind": target.kind, "url": getattr(target, "url", ""), "arch": built.arch,
                   "kernel": session.hello.kernel, "platform": session.hello.platform,
                   "counter": target.measure.source, "counter_note": target.measure.note}
    return new_profile(
        board=board.name, target=target_info, backend="micropython", model=model,
        dataset=dataset_summary(data, len(inputs)), metrics=metrics, windows=windows,
        tool_versions={**built.tools, **versions},
        extra={"link": session.link, "files": {n: str(p) for n, p in built.files.items()}})
