"""The profiler: stages from the ELF (symbols and DWARF inlining) that sum exactly to the instruction
count on every window, the Cortex-M4 cycle model against the TRM (bench/cycle_model_check.py), and
how profile show and compare present them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_qemu, tiny_model
from tests.profile_samples import sample_profile, with_breakdown
from workbench.targets.cm4_timing import BRANCH_REFILL, Insn, classify, split_mnemonic
from workbench.targets.stages import LIB, MAC_BIT, STAGES, Function, local_context, resolve

ROOT = Path(__file__).resolve().parent.parent


@needs_qemu
def test_cycle_model_check_agrees_with_the_trm():
    """Every microbenchmark's TRM figure equals the model's; the SMLAD loop's cycles per MAC equal
    kernel_bench.py's estimate; the flash wait states add what the lines touched say."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "cycle_model_check.py")], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert out.rstrip().endswith("all agree")
    for cls in ("alu", "mul", "dsp", "div", "ldr", "str_imm", "str_reg", "ldrd", "ldm", "stm", "branch",
                "branch_cond", "vfp", "vmac", "vdiv", "vldr", "vstr", "vldm", "vstm", "vmov2"):
        assert f" {cls} " in out, cls
    assert "4-row blocks: model 1.4375 cycles/MAC, kernel_bench.py estimate 46/32 = 1.4375  equal" in out
    assert " NO" not in out


@pytest.mark.parametrize("mnemonic, want", [("addsne.w", ("add", "ne")), ("vadd.f32", ("vadd", "")),
                                           ("bls", ("b", "ls")), ("blt.n", ("b", "lt")), ("bl", ("bl", "")),
                                           ("movs", ("mov", "")), ("bics", ("bic", "")), ("smlalbb", ("smlalbb", "")),
                                           ("vmovlt.f32", ("vmov", "lt")), ("movseq", ("mov", "eq")),
                                           ("ittet", ("ittet", "")), ("teq", ("teq", ""))])
def test_mnemonics_split_into_base_and_condition(mnemonic, want):
    assert split_mnemonic(mnemonic) == want


@pytest.mark.parametrize("text, cls, cycles", [
    ("ldr r1, [r0, #4]", "ldr", 2), ("str r1, [r0, #4]", "str_imm", 1), ("str.w r1, [r0, r2, lsl #2]", "str_reg", 2),
    ("ldrd r2, r3, [r0], #8", "ldrd", 3), ("ldmia.w r0!, {r8, r9, r10, r11}", "ldm", 5),
    ("pop {r4, r5, r6, pc}", "ldm", 5 + BRANCH_REFILL), ("push {r4, lr}", "stm", 3),
    ("vpush {d8-d9}", "vstm", 5), ("vldmia r3!, {s0-s7}", "vldm", 9), ("vldr d0, [r3]", "vldr", 3),
    ("vfma.f32 s0, s1, s2", "vmac", 3), ("vdiv.f32 s0, s1, s2", "vdiv", 14), ("smlad r4, r8, r3, r4", "dsp", 1),
    ("bl 2e00 <f>", "branch", 1 + BRANCH_REFILL), ("bne.n 2e22 <f+0x2>", "branch_cond", 1),
    ("ldr pc, [sp], #4", "ldr_pc", 2 + BRANCH_REFILL), ("vmov r0, r1, d0", "vmov2", 2)])
def test_trm_rows(text, cls, cycles):
    mnemonic, _, operands = text.partition(" ")
    assert classify(Insn(0, 4, mnemonic, operands)) == (cls, cycles)


def chain(*names):
    return [Function(n, "/x/firmware/sharnn/src/sharnn_q15.c" if n.startswith(("sharnn_", "run_", "lstm", "classify"))
                     else "/x/firmware/runner/wb_model_q15.c" if n.startswith("wb_") else "") for n in names]


def stage(code):
    return STAGES[code & ~MAC_BIT] if (code & ~MAC_BIT) != LIB else "lib"


def test_stage_rules_follow_the_call_chain():
    # The same cell step is the lower level inside the brick loop and the upper level outside it.
    assert stage(local_context(chain("sharnn_q15_infer", "run_cell", "sharnn_q15_cell_step", "lstm_step"))) == "lower"
    assert stage(local_context(chain("sharnn_q15_infer", "sharnn_q15_cell_step", "lstm_step"))) == "upper"
    assert stage(local_context(chain("sharnn_q15_infer", "classify"))) == "head"
    assert stage(local_context(chain("sharnn_q15_infer"))) == "other"
    assert stage(local_context(chain("wb_model_infer"))) == "io"
    assert local_context(chain("memcpy")) == LIB
    # Matrix products are marked wherever they are inlined.
    assert local_context(chain("sharnn_q15_infer", "classify", "sharnn_dot4_dsp")) & MAC_BIT
    assert not local_context(chain("sharnn_q15_infer", "classify")) & MAC_BIT
    # New kernel function names that say what they are keep working.
    assert stage(local_context(chain("sharnn_f32_lower_brick"))) == "lower"
    assert stage(local_context(chain("sharnn_f32_gru_step"))) == "upper"
    assert stage(local_context(chain("gru_step_vfma"))) == "upper"      # a variant of a cell step
    helper = local_context(chain("sharnn_dot_vfma_f32"))                  # a kernel helper: its caller's level
    assert stage(helper) == "other" and helper & MAC_BIT
    assert resolve(STAGES.index("lower"), helper) == STAGES.index("lower")
    # A level owns its callees whatever they are; io and other give way to what they call.
    lower, upper, io, other = (STAGES.index(s) for s in ("lower", "upper", "io", "other"))
    assert resolve(lower, upper) == lower and resolve(lower, io) == lower
    assert resolve(io, other) == other and resolve(other, upper) == upper and resolve(io, LIB) == io


@needs_qemu
@pytest.mark.parametrize("quant", ["q15", "f32"])
def test_stages_sum_to_the_count_on_every_window(quant, basicmotions):
    """Acceptance: lower, upper, head, io and other sum to the exact instruction count of every full and
    streamed window, in both arithmetics; the cycle estimate is its own source."""
    from workbench.boards import load_board
    from workbench.models import modelfile
    from workbench.pipeline import device_inputs, export_and_build, run_on_qemu
    from workbench.profile.breakdown import breakdown_metrics

    board = load_board("mps2-an386")
    train, test = basicmotions
    mf = modelfile.from_module(tiny_model(cells=("lstm", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    built = export_and_build(mf, board, quant=quant, calib_x=train.x)
    session, target, _ = run_on_qemu(board, built, device_inputs(built, test)[:3])
    metrics, records = breakdown_metrics(session, target.windows, board.clock_hz)
    assert len(records) == 3
    for w, rec in zip(session.windows, records):
        assert sum(rec["stages"].values()) == w.cost
        assert sum(rec["stream_stages"].values()) == w.stream_cost
        assert sum(rec["stage_cycles_est"].values()) == rec["cycles_est"] > w.cost
        assert all(rec["stages"][s] > 0 for s in STAGES)
        assert rec["stages"]["lower"] > rec["stages"]["upper"] > rec["stages"]["head"]
    for name in ("cost.stage.lower.median", "cost.stage.upper.mac.median"):
        assert metrics[name]["source"] == "qemu-plugin-instructions"
    for name, unit in (("cycles_est.full_window.median", "cycles"), ("latency_ms_est.stream_window.median", "ms")):
        assert (metrics[name]["unit"], metrics[name]["source"]) == (unit, "estimate-cm4-trm")
    assert metrics["latency_ms_est.full_window.median"]["value"] == pytest.approx(
        metrics["cycles_est.full_window.median"]["value"] / board.clock_hz * 1e3)


def test_profile_show_prints_where_the_time_goes():
    from rich.console import Console

    from workbench.profile.show import render

    con = Console(width=160, record=True)
    con.print(render(with_breakdown(sample_profile())))
    text = con.export_text()
    assert "where the time goes: full window" in text
    for s in STAGES:
        assert f"│ {s} " in text
    assert "estimate-cm4-trm (an estimate, not a measurement) at 25 MHz" in " ".join(text.split())
    assert "cost.stage.lower.median" not in text           # in the breakdown, not again row by row


def test_compare_shows_stages_and_never_gates_on_one():
    from rich.console import Console

    from workbench.profile.compare import compare, render, summary

    base = with_breakdown(sample_profile())
    new = with_breakdown(sample_profile())
    # The same total, moved between stages: a stage grows 40 %, the gate (0 %) still passes.
    m = new["metrics"]
    m["cost.stage.io.median"]["value"] = round(m["cost.stage.io.median"]["value"] * 1.4)
    m["cost.stage.other.median"]["value"] -= m["cost.stage.io.median"]["value"] - \
        base["metrics"]["cost.stage.io.median"]["value"]
    c = compare(base, new, 0.0)
    io = next(d for d in c.deltas if d.name == "cost.stage.io.median")
    assert (io.kind, io.verdict) == ("stage", "worse")
    assert not c.failed and summary(c).startswith("gate passed")
    con = Console(width=160, record=True)
    con.print(render(c, "base", "new"))
    text = con.export_text()
    assert "where the time goes: full window, median instructions" in text
    assert "share of the change" in text
    # The cycle estimate is gated like any cost.
    slower = with_breakdown(sample_profile(), cycles_per_insn=1.6)
    c = compare(base, slower, 5.0)
    assert c.failed and "cycles_est.full_window.median" in summary(c)


@needs_qemu
def test_checkpoints_of_a_breakdown_build(basicmotions):
    """--breakdown firmware: the checkpoints answer per-stage counter ticks that (with their own cost)
    sum to the window's cost, and split it as the plugin does; the plugin still counts the same firmware
    exactly although its checkpoints read SysTick inside the window (the TBs QEMU cuts at I/O are
    taken back)."""
    from workbench.boards import load_board
    from workbench.models import modelfile
    from workbench.pipeline import BuildOptions, device_inputs, export_and_build, run_on_target
    from workbench.profile.breakdown import breakdown_metrics, checkpoint_metrics
    from workbench.targets.qemu import QemuTarget

    board = load_board("mps2-an386")
    train, test = basicmotions
    mf = modelfile.from_module(tiny_model(cells=("gru", "gru"), hidden=(8, 8)), {"dataset": "BasicMotions"})
    built = export_and_build(mf, board, quant="q15", calib_x=train.x, options=BuildOptions(breakdown=True))
    inputs = device_inputs(built, test)[:2]
    # icount shift 6: 64 ns of virtual time per instruction, 1.6 SysTick ticks at 25 MHz: finer than one.
    ticks = QemuTarget(board, built.artifact.elf, use_plugin=False, icount_shift=6,
                       workdir=built.artifact.elf.parent / "qemu-icount")
    session = run_on_target(ticks, built, inputs)
    assert session.hello.has("stages")
    metrics, records, extra = checkpoint_metrics(session, ticks)
    for w, rec in zip(session.windows, records):
        assert abs(sum(rec["stages"].values()) - w.cost) <= 1
        assert abs(sum(rec["stream_stages"].values()) - w.stream_cost) <= 1
    assert metrics["cost.stage.checkpoints.median"]["source"] == "qemu-icount-instructions"
    assert 0 < extra["checkpoints"]["own_cost_share_median"] < 0.5
    exact = QemuTarget(board, built.artifact.elf, workdir=built.artifact.elf.parent / "qemu")
    plugin_session = run_on_target(exact, built, inputs)       # raises if the two plugins disagree
    _, plugin_records = breakdown_metrics(plugin_session, exact.windows, board.clock_hz)
    for cp, pl in zip(records, plugin_records):
        kernel = {s: cp["stages"][s] for s in ("lower", "upper")}
        # The plugin charges each checkpoint's instructions to the stage it ran in; the checkpoints keep
        # their own apart: the level shares agree within the checkpoints' share.
        cp_total, pl_total = sum(cp["stages"].values()), sum(pl["stages"].values())
        for s, v in kernel.items():
            assert abs(v / cp_total - pl["stages"][s] / pl_total) < extra["checkpoints"]["own_cost_share_median"]


@needs_qemu
def test_trace_tool_equals_the_plugin(tmp_path):
    """The trace tool (Renode's path to the cycle estimate) gives the plugin's figures on the same run:
    here the executed PCs come from a test plugin that writes Renode's trace format (this machine's
    Renode source build has no libllvm-disas, without which Renode's tracer cannot run)."""
    import gzip
    import shutil

    sys.path.insert(0, str(ROOT / "bench"))
    import cycle_model_check

    from workbench.boards import load_board
    from workbench.targets import cm4_profile
    from workbench.targets.qemu import QemuTarget

    elf = cycle_model_check.build(tmp_path)
    target = QemuTarget(load_board("mps2-an386"), elf, workdir=tmp_path / "qemu")
    target.run_to_exit()
    retrace = tmp_path / "retrace.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-o", str(retrace),
                    str(ROOT / "tests" / "fixtures" / "retrace" / "retrace.c")], check=True)
    trace = tmp_path / "trace.bin"
    subprocess.run([*target.command(None)[:target.command(None).index("-plugin")], "-plugin",
                    f"file={retrace},out={trace}"], check=True, capture_output=True, timeout=120)
    with open(trace, "rb") as src, gzip.open(tmp_path / "trace.bin.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    traced = cm4_profile.profile_trace(target.profile_map, tmp_path / "trace.bin.gz", tmp_path / "out.txt")
    assert len(traced) == len(target.windows) > 30
    for t, p in zip(traced, target.windows):
        assert (t.insns, t.cycles, t.taken_branches, t.parts) == (p.insns, p.cycles, p.taken_branches, p.parts)
