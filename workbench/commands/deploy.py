"""``workbench deploy`` (and the MicroPython parts of ``export`` and ``run``): a model as files on a
MicroPython board, copied with mpremote; the test set streamed through the board's REPL.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.commands.common import console, progress
from workbench.errors import WorkbenchError

MICROPYTHON_BOARD = "pyboard"
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
    from workbench.paths import build_dir
    from workbench.pipeline import quantize

    mpy_dir = mpbuild.micropython_dir(mpy_dir)
    if kernel == "auto":
        kernel = "natmod" if mpy_dir is not None else "viper"
    qm = quantize(mf, quant, calib_x)
    root = build_dir() / mf.content_hash[:12] / f"micropython-{quant}"
    info = export_micropython(mf, root / "export", qm)
    built = mpbuild.build(info, arch, root / arch, kernel, mpy_dir)
    mpbuild.check_fits(board, built, info)
    return Prepared(mf, qm, info, built)


def copy_files(link, prep: Prepared) -> dict[str, str]:
    with progress() as bar:
        bar.console.print(f"copying {len(prep.build.files)} files ({prep.build.file_bytes:,} bytes) to {link.url} "
                          f"with mpremote")
        return link.put(prep.build.files, progress=bar)


def cmd_deploy(args) -> int:
    from workbench.boards import load_board
    from workbench.targets.micropython import ReplLink, open_model

    board = load_board(args.board)
    if "micropython" not in board.backends:
        raise WorkbenchError(f"board {board.name} does not run MicroPython (backends: {', '.join(board.backends)})")
    # The board first, before any build work: where nothing answers the user hears it at once.
    link = ReplLink(args.port)
    try:
        from workbench.build.micropython import board_arch
        from workbench.models.modelfile import load

        arch = args.arch or board_arch(board)
        prep = prepare(load(args.model), board, arch, args.mpy_kernel, args.quant, args.micropython_dir)
        status = copy_files(link, prep)
        hello = open_model(link, prep.build.kernel)
    finally:
        link.close()
    if hello.model_hash != prep.model.content_hash[:16]:
        raise WorkbenchError(f"the device loaded model {hello.model_hash}, expected {prep.model.content_hash[:16]}")
    from rich.table import Table

    t = Table(title=f"deployed to {board.name} at {args.port} ({hello.platform}, arch {arch})")
    for col in ("file", "bytes", ""):
        t.add_column(col)
    for name, path in prep.build.files.items():
        t.add_row(name, f"{path.stat().st_size:,}", status[name])
    con = console()
    con.print(t)
    con.print(f"kernel {hello.kernel}: the model takes {hello.heap_bytes:,} bytes of heap on the device "
              f"(gc.mem_alloc; estimate was {prep.build.heap_bytes:,} of the board's "
              f"{board.backends['micropython']['heap_bytes']:,})")
    con.print("use it on the board: [bold]import wb_sharnn; m = wb_sharnn.Model(); m.infer(x, logits)[/]")
    return 0


def run_micropython(board, args) -> tuple[dict, Path]:
    """``workbench run`` for a MicroPython board: through ``--port`` on the board, else on the unix port."""
    from workbench.build.micropython import board_arch
    from workbench.data import load_dataset
    from workbench.models.modelfile import load
    from workbench.paths import build_dir
    from workbench.targets.micropython import BoardTarget, UnixPortTarget

    mf = load(args.model)
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise WorkbenchError(f"{out} exists; choose another --out or pass --force to replace it")
    dataset = args.dataset or mf.meta.get("dataset")
    if not dataset:
        raise WorkbenchError("the model file does not name its dataset: pass --dataset")
    if args.port == "auto":
        raise WorkbenchError("name the MicroPython board's port: --port /dev/ttyACM0 (or any pyserial URL)")
    emulator = None if args.port else "micropython-unix"
    prep = prepare(mf, board, board_arch(board, emulator), args.mpy_kernel, getattr(args, "quant", "f32"),
                   args.micropython_dir)
    data = load_dataset(dataset, args.split)
    if args.limit:
        data.x, data.y, data.lengths = data.x[:args.limit], data.y[:args.limit], data.lengths[:args.limit]
    inputs = device_inputs(prep, data)
    target = BoardTarget(args.port) if args.port else UnixPortTarget(build_dir() / mf.content_hash[:12] / "micropython"
                                                                     / "unix-fs")
    with progress() as bar:
        session, versions = run_on_device(prep, target, inputs, stream=not args.no_stream, progress=bar,
                                          what=f"{data.name} {args.split}")
    return write_micropython_profile(board, target, prep, data, args.split, session, versions, out, args.force)


def run_on_device(prep: Prepared, target, inputs, *, stream: bool = True, progress=None, what: str = ""):
    """Start ``target``, copy the build with mpremote, load the model, stream ``inputs`` through the
    REPL; returns the session and the target's tool versions."""
    from workbench.targets.micropython import ReplLink, open_model, run_repl_session

    with target:
        link = ReplLink(target.start())
        try:
            if progress is not None:
                progress.console.print(f"copying {len(prep.build.files)} files ({prep.build.file_bytes:,} bytes) "
                                       f"to {link.url} with mpremote")
            link.put(prep.build.files, progress=progress)
            hello = open_model(link, prep.build.kernel)
            if hello.model_hash != prep.model.content_hash[:16]:
                raise WorkbenchError(f"the device loaded model {hello.model_hash}, expected "
                                     f"{prep.model.content_hash[:16]}")
            if progress is not None:
                progress.console.print(f"streaming {len(inputs)} {what} windows through the REPL ({target.kind}, "
                                       f"kernel {hello.kernel})")
            session = run_repl_session(link, hello, inputs, prep.export.output_dtype, stream=stream,
                                       progress=progress)
        finally:
            link.close()
        return session, target.versions()


def device_inputs(prep: Prepared, data):
    """The dataset in the device's input type (the same rule as a firmware build's: both carry
    ``export`` and ``quant``)."""
    from workbench.pipeline import device_inputs as build_inputs

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
    from workbench.paths import build_dir

    root = build_dir() / prep.model.content_hash[:12] / f"micropython-{prep.export.quantization}"
    c_info = export_c(prep.model, root / "c-export", *([prep.quant] if prep.quant is not None else []))
    kernel = HostKernel(build_host_library(c_info, root / "host"), c_info)
    return np.stack([kernel.infer(x) for x in inputs])


def write_micropython_profile(board, target, prep, data, split, session, versions, out, force):
    import numpy as np

    from workbench.pipeline import model_summary, torch_logits
    from workbench.profile import default_profile_path, metric, new_profile, write_profile
    from workbench.profile.metrics import session_metrics

    mf, info, built = prep.model, prep.export, prep.build
    inputs = device_inputs(prep, data)
    host = host_c_logits(prep, inputs)
    golden = {} if prep.quant is None else {"reference_logits": host_reference(prep, inputs)}
    metrics, windows = session_metrics(session, data.y, host, torch_logits(mf, data), target.measure, None,
                                       data.num_classes, **golden)
    dev = np.stack([w.logits for w in session.windows])
    metrics["agreement.device_host_max_abs"] = metric(float(np.abs(dev.astype(np.float64) - host).max()),
                                                      "logit units", "device-output")
    metrics["ram.heap_model"] = metric(session.hello.heap_bytes, "bytes", "micropython-gc")
    metrics["ram.heap_estimate"] = metric(built.heap_bytes, "bytes", "estimate")
    metrics["flash.files"] = metric(built.file_bytes, "bytes", "file-size")
    for name, path in built.files.items():
        metrics[f"flash.file.{name}"] = metric(path.stat().st_size, "bytes", "file-size")
    model = model_summary(mf, info)
    target_info = {"kind": target.kind, "url": getattr(target, "url", ""), "arch": built.arch,
                   "kernel": session.hello.kernel, "platform": session.hello.platform,
                   "counter": target.measure.source, "counter_note": target.measure.note}
    profile = new_profile(
        board=board.name, target=target_info, backend="micropython", model=model,
        dataset={"name": data.name, "split": split, "count": len(inputs), "class_names": data.class_names},
        metrics=metrics, windows=windows, tool_versions={**built.tools, **versions},
        extra={"link": session.link, "files": {n: str(p) for n, p in built.files.items()}})
    path = write_profile(profile, out or default_profile_path(board.name, model), force=force)
    return profile, path


def add_run_options(s) -> None:
    """Options of ``workbench run`` for MicroPython boards (the run parser lives in run.py)."""
    if "--port" not in s._option_string_actions:     # real boards of other backends may define it too
        s.add_argument("--port", help="MicroPython boards: the board's serial port as a pyserial URL "
                                      "[none: the MicroPython unix port stands in for the board]")
    s.add_argument("--mpy-kernel", default="auto", choices=KERNEL_CHOICES,
                   help="MicroPython boards: kernel build [auto: natmod with a MicroPython tree, else viper]")
    s.add_argument("--micropython-dir", help="MicroPython source tree for the native module "
                                             "[$WORKBENCH_MICROPYTHON_DIR]")


def add_export_options(s) -> None:
    """Options of ``workbench export`` for ``--target micropython`` (the export parser lives in build.py)."""
    s.add_argument("--board", default=MICROPYTHON_BOARD,
                   help=f"MicroPython board whose architecture the .mpy files are for [{MICROPYTHON_BOARD}]")
    s.add_argument("--arch", help="native-code architecture instead of the board's (x64 for the unix port)")
    s.add_argument("--mpy-kernel", default="all", choices=("all",) + KERNEL_CHOICES[1:],
                   help="kernel build(s) to produce [all: bytecode, viper and, with a MicroPython tree, natmod]")
    s.add_argument("--micropython-dir", help="MicroPython source tree for the native module "
                                             "[$WORKBENCH_MICROPYTHON_DIR]")


def cmd_export_micropython(args) -> int:
    from workbench.boards import load_board
    from workbench.build import micropython as mpbuild
    from workbench.export.micropython import export_micropython
    from workbench.models.modelfile import load
    from workbench.pipeline import quantize

    board = load_board(args.board)
    arch = args.arch or mpbuild.board_arch(board)
    mpy_dir = mpbuild.micropython_dir(args.micropython_dir)
    out = Path(args.out)
    mf = load(args.model)
    info = export_micropython(mf, out, quantize(mf, getattr(args, "quant", "f32")))
    built = mpbuild.build(info, arch, out / "mpy" / arch, args.mpy_kernel, mpy_dir)
    con = console()
    con.print(f"MicroPython model written to [bold]{out}[/] ({info.weight_bytes:,} bytes of {info.quantization} "
              f"weights); .mpy for {arch} in {out / 'mpy' / arch}:")
    for name, path in built.files.items():
        con.print(f"  {name:<20} {path.stat().st_size:>8,} bytes")
    if built.natmod_text_bytes is not None:
        con.print(f"native module machine code: {built.natmod_text_bytes:,} bytes ({arch})")
    elif mpy_dir is None:
        con.print(f"(no native module: point --micropython-dir or ${mpbuild.MPY_DIR_ENV} at a MicroPython tree)")
    return 0


def register(sub) -> None:
    s = sub.add_parser("deploy", help="copy a model to a MicroPython board with mpremote")
    s.add_argument("--board", default=MICROPYTHON_BOARD, help=f"MicroPython board name or alias [{MICROPYTHON_BOARD}]")
    s.add_argument("--model", required=True, help="model file (.wbm)")
    s.add_argument("--port", required=True, help="the board's serial port as a pyserial URL "
                                                  "(/dev/ttyACM0, socket://host:port, rfc2217://...)")
    s.add_argument("--quant", default="f32", choices=["f32", "q15"],
                   help="float32, or int16 weights/activations with int32 accumulators [f32]")
    s.add_argument("--mpy-kernel", default="auto", choices=KERNEL_CHOICES,
                   help="kernel build to deploy [auto: natmod with a MicroPython tree, else viper]")
    s.add_argument("--arch", help="native-code architecture instead of the board's (x64 for the unix port)")
    s.add_argument("--micropython-dir", help="MicroPython source tree for the native module "
                                             "[$WORKBENCH_MICROPYTHON_DIR]")
    s.set_defaults(func=cmd_deploy)
