"""ShaRNN's k-wise parallelism on two cores (mps2-an521): the kernel's brick entry points equal the
full window bit for bit, the plugin counts each vCPU exactly, the two-core firmware answers what the
host kernel and the one-core firmware answer, and its costs are the critical path of its counts."""

from __future__ import annotations

import ctypes
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_qemu, tiny_model
from tests.test_cli_errors import assert_one_line_error, run_cli
from tests.test_qemu_plugin import disassemble, expected_count, needs_gcc, needs_objdump, windows
from workbench.boards import load_board
from workbench.build.host import build_host_library
from workbench.errors import DeviceError, WorkbenchError
from workbench.export.c import export_c
from workbench.link.protocol import BadFrame, Hello, parse_stats
from workbench.models import modelfile
from workbench.pipeline import BuildOptions, export_and_build, host_logits, run_on_qemu
from workbench.targets import qemu_plugin
from workbench.targets.parallel import (CoreCosts, TwoCoreCounts, critical_path, fit_parallel_cost,
                                        pipelined_stream_ends)

FIXTURES = Path(__file__).parent / "fixtures"


# ---------------------------------------------------------------- the model of parallel time

def test_critical_path_waits_for_each_brick_of_core_1():
    # Core 0 is done with its share at 10; core 1's bricks end at 4, 8, 30: the first two upper steps
    # follow core 0's own work, the last waits for its brick.
    assert critical_path(10, [1, 1, 1], [4, 4, 22]) == 31
    assert critical_path(100, [1, 1], [4, 4]) == 102
    with pytest.raises(ValueError):
        critical_path(1, [1], [1, 2])


def test_two_core_counts_group_lines_per_request():
    counts = TwoCoreCounts(bricks=5, core0_bricks=2)          # core 1: 3 bricks; core 0: 1 + 3 lines
    counts.add([(1, 10), (1, 10), (0, 25), (1, 10), (0, 1), (0, 1), (0, 1)])
    assert counts.next_request() == CoreCosts(core0=28, core1=30, critical=31)
    counts.add([(0, 7)])                                      # a stream push: core 0 alone
    assert counts.next_request() == CoreCosts(7, 0, 7)
    counts.add([(1, 10)])
    with pytest.raises(DeviceError, match="needs 4 and 3"):
        counts.next_request()
    with pytest.raises(DeviceError, match="vCPU 2"):
        counts.add([(2, 1)])


def test_pipelined_stream_is_bound_by_the_slower_stage():
    nb = 3
    ends = pipelined_stream_ends([10] * 12, [4] * 10, nb)
    assert len(ends) == 10 and ends[0] == 34
    assert {b - a for a, b in zip(ends[2:], ends[3:])} == {10}     # steady state: one brick per window
    ends = pipelined_stream_ends([3] * 12, [8] * 10, nb)
    assert {b - a for a, b in zip(ends[2:], ends[3:])} == {8}      # or the upper level, if slower
    with pytest.raises(ValueError):
        pipelined_stream_ends([1] * 5, [1] * 5, nb)


def test_fit_recovers_the_cost_model():
    ks = [3, 9, 11, 33]
    costs = [500 + 7 * 99 / k + 3 * k for k in ks]
    fit = fit_parallel_cost(99, ks, costs)
    assert fit == pytest.approx({"c0": 500, "c1": 7, "c2": 3})
    assert fit_parallel_cost(99, [3, 9, 9], costs[:3]) is None


def test_handshake_and_stats_carry_the_split():
    hello = bytearray(45 + 4)
    struct.pack_into("<BBBBHHHHHBBBBBBIIII", hello, 0, 1, 1, 1, 0x3F, 256, 99, 32, 11, 12, 2, 1, 2, 1, 2, 4,
                     20_000_000, 4096, 1000, 6336)
    hello[44:49] = b"\x04an52"
    h = Hello.parse(bytes(hello))
    assert (h.cores, h.core0_bricks) == (2, 4)
    struct.pack_into("<BB", hello, 18, 2, 9)                  # all nine bricks on core 0: impossible
    with pytest.raises(BadFrame, match="impossible split"):
        Hello.parse(bytes(hello))
    struct.pack_into("<BB", hello, 18, 0, 0)                  # an older runner: one core
    assert Hello.parse(bytes(hello)).cores == 1
    stats = parse_stats(struct.pack("<10I", *range(10)))
    assert stats["core1_stack_peak"] == 8 and stats["core1_stack_size"] == 9
    assert "core1_stack_peak" not in parse_stats(struct.pack("<8I", *range(8)))


# ---------------------------------------------------------------- the kernel's brick entry points

def _split_on_host(lib, info, window: np.ndarray, core0_bricks: int, dtype, out_dtype) -> np.ndarray:
    """sharnn_*_bricks for [0, s) and [s, T/k) on two scratch buffers, then upper_step per brick."""
    q = info.quantization
    nb = info.window // info.k
    h1 = info.stream_len // nb
    net = ctypes.addressof(ctypes.c_char.in_dll(lib, "wb_net"))
    x = np.ascontiguousarray(window, dtype=dtype)
    bricks = np.zeros(nb * h1, dtype=dtype)
    scratch = [np.zeros(info.scratch_len + 2, dtype=dtype) for _ in range(2)]
    logits = np.zeros(info.num_classes, dtype=out_dtype)
    step = info.k * info.device_input_dim * dtype.itemsize
    for first, count, s in ((0, core0_bricks, scratch[0]), (core0_bricks, nb - core0_bricks, scratch[1])):
        getattr(lib, f"sharnn_{q}_bricks")(ctypes.c_void_p(net), ctypes.c_void_p(x.ctypes.data + first * step),
                                           ctypes.c_uint32(count),
                                           ctypes.c_void_p(bricks.ctypes.data + first * h1 * dtype.itemsize),
                                           ctypes.c_void_p(s.ctypes.data))
    for b in range(nb):
        getattr(lib, f"sharnn_{q}_upper_step")(ctypes.c_void_p(net),
                                               ctypes.c_void_p(bricks.ctypes.data + b * h1 * dtype.itemsize),
                                               ctypes.c_uint32(b), ctypes.c_void_p(logits.ctypes.data),
                                               ctypes.c_void_p(scratch[0].ctypes.data))
    return logits


STACKED = [{"layers": 2}, {"layers": 2}]


@pytest.mark.parametrize("quant,cells,hidden,options", [
    ("f32", ("lstm", "gru"), (10, 7), None), ("f32", ("gru", "lstm"), (10, 7), None),
    ("f32", ("mingru", "minlstm"), (9, 7), STACKED), ("f32", ("durnn", "fastgrnn"), (9, 7), [{"short_size": 5}, {}]),
    ("q15", ("lstm", "lstm"), (10, 7), None), ("q15", ("gru", "gru"), (10, 7), None),
    ("q15", ("fastgrnn", "mingru"), (10, 7), None), ("q15", ("minlstm", "lstm"), (10, 7), None),
    ("q15", ("minlstm", "mingru"), (9, 7), STACKED)])
def test_bricks_then_upper_steps_equal_the_full_window(tmp_path, quant, cells, hidden, options):
    """Every family, stacked layers and an odd lower size (brick outputs with the ring's even stride)."""
    from workbench.quantize import quantize_model

    model = tiny_model(cells=cells, hidden=hidden, k=10, options=options)
    mf = modelfile.from_module(model)
    x = np.random.default_rng(3).normal(size=(4, 100, 6)).astype(np.float32)
    qm = None if quant == "f32" else quantize_model(mf, x, quant)
    info = export_c(mf, tmp_path / "export", qm)
    lib_path = build_host_library(info, tmp_path / "host")
    from workbench.build.host import HostKernel

    kernel = HostKernel(lib_path, info)
    inputs = x if qm is None else qm.quantize_inputs(x)
    for window in inputs:
        full = kernel.infer(window)
        for s in (0, 3, 9):
            split = _split_on_host(kernel.lib, info, window, s, kernel.in_dtype, kernel.out_dtype)
            assert split.tobytes() == full.tobytes(), (s, split, full)


# ---------------------------------------------------------------- the plugin, per vCPU

@needs_qemu
@needs_objdump
@needs_gcc
def test_per_vcpu_counts_match_disassembly_while_the_cores_interleave(tmp_path):
    """Core 1's whole count window runs inside core 0's (core 0 yields at WFE): each count is still
    exactly its own core's instructions; without per_vcpu the two would mix."""
    elf = tmp_path / "two.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m33", "-mthumb", "-O2", "-fno-unroll-loops", "-ffreestanding",
                    "-nostdlib", "-nostartfiles", "-Wall", "-Wextra", "-Werror", "-Wl,--fatal-warnings",
                    "-T", str(FIXTURES / "plugin_two_cores" / "link.ld"), str(FIXTURES / "plugin_two_cores" / "main.c"),
                    str(FIXTURES / "plugin_loop" / "markers.c"), "-o", str(elf)], check=True)
    (w0,) = windows(disassemble(elf, "main0"))
    (w1,) = windows(disassemble(elf, "main1"))
    expected = {0: expected_count(w0, 700), 1: expected_count(w1, 300)}
    assert any(i.mnemonic == "wfe" for i in w0)          # the fixture yields inside core 0's window

    plugin = qemu_plugin.build_plugin(tmp_path)
    out = tmp_path / "counts.txt"
    proc = subprocess.run(["qemu-system-arm", "-M", "mps2-an521", "-nographic", "-monitor", "none", "-serial", "none",
                           "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,align=off,sleep=off",
                           "-kernel", str(elf), "-plugin",
                           qemu_plugin.plugin_arg(plugin, qemu_plugin.find_markers(elf), out, per_vcpu=True)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = qemu_plugin.read_vcpu_counts(out)
    assert [v for v, _ in lines] == [1, 0]               # core 1's window ended first, inside core 0's
    assert dict(lines) == expected


# ---------------------------------------------------------------- two cores on QEMU

@pytest.fixture(scope="module")
def sharnn_file():
    return modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(12, 8), k=10), {"dataset": "BasicMotions"})


@needs_qemu
@pytest.mark.slow
@pytest.mark.parametrize("quant", ["f32", "q15"])
def test_two_cores_answer_what_one_core_and_the_host_answer(sharnn_file, basicmotions, quant):
    train, test = basicmotions
    board = load_board("mps2-an521")
    x = test.x[:5]
    runs = {}
    for cores, link in ((1, "semihost"), (2, "semihost"), (2, "uart")):
        built = export_and_build(sharnn_file, board, quant=quant, calib_x=train.x,
                                 options=BuildOptions(link=link, cores=cores))
        inputs = x if built.quant is None else built.quant.quantize_inputs(x).astype("<i2")
        session, target, _ = run_on_qemu(board, built, inputs, stream=True, link=link)
        runs[(cores, link)] = session, target
        host = host_logits(built, inputs)
        for i, w in enumerate(session.windows):
            assert w.logits.tobytes() == host[i].tobytes(), (cores, link, i)
            assert w.stream_logits.tobytes() == w.logits.tobytes()
        assert target.proc.returncode == 0
    one, _ = runs[(1, "semihost")]
    two, target = runs[(2, "semihost")]
    assert (one.hello.cores, two.hello.cores) == (1, 2)
    assert 0 < two.hello.core0_bricks < 10
    assert [w.logits.tobytes() for w in one.windows] == [w.logits.tobytes() for w in two.windows]
    # Costs: the critical path of the two cores' counts, shorter than one core's; counts repeat.
    assert len(target.core_costs) == len(x)
    for w, c in zip(two.windows, target.core_costs):
        assert w.cost == c.critical and max(c.core0, c.core1) <= c.critical < c.core0 + c.core1
    speedup = one.windows[0].cost / two.windows[0].cost
    assert 1.3 < speedup < 2.0, speedup
    # A stream push runs on core 0 alone: the same count as on one core.
    assert [w.stream_cost for w in two.windows] == [w.stream_cost for w in one.windows]
    assert two.stats["core1_stack_size"] == 2048 and 0 < two.stats["core1_stack_peak"] < 2048
    uart, _ = runs[(2, "uart")]
    assert [w.cost for w in uart.windows] == [w.cost for w in two.windows]


def test_cores_are_checked_before_a_build(tmp_path):
    path = modelfile.save(modelfile.from_module(tiny_model(), {"dataset": "BasicMotions"}), tmp_path / "m.wbm")
    rnn = modelfile.save(modelfile.from_module(tiny_model(family="rnn"), {"dataset": "BasicMotions"}),
                         tmp_path / "rnn.wbm")
    assert_one_line_error(run_cli("run", "--model", str(path), "--cores", "2"),
                          "--cores 2", "board mps2-an386 has 1 core")
    assert_one_line_error(run_cli("run", "--board", "mps2-an521", "--model", str(rnn), "--cores", "2"),
                          "--cores 2", "single-level rnn")
    assert_one_line_error(run_cli("run", "--model", str(path), "--cores", "3"), "--cores", "invalid choice")


def test_board_file_declares_two_cores_and_qemu_turns_on_core_0s_fpu():
    board = load_board("an521")
    assert board.cores == 2 and board.cpu == "cortex-m33"
    assert "sse-200.CPU0_FPU=on" in board.qemu["args"] and "sse-200.CPU0_DSP=on" in board.qemu["args"]
    assert load_board("mps2-an386").cores == 1
    with pytest.raises(WorkbenchError, match="--cores 2"):
        from workbench.pipeline.spec import check_cores

        check_cores(2, load_board("mps2-an386"), modelfile.from_module(tiny_model()), "baremetal")
