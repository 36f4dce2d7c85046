"""Check the Cortex-M4 cycle model against the TRM, one instruction class at a time.

    python bench/cycle_model_check.py [--keep DIR]

Builds a firmware of hand-written assembly microbenchmarks (generated below, one measurement window
per instruction class), runs it under QEMU (mps2-an386) with both plugins (``insn_count`` and
``cm4_profile``) and prints, per window, the cycles that follow from the Cortex-M4 TRM (ARM DDI
0439B; each figure below is written out from the table row it cites, not computed by the model's
code) beside the model's figure. Then:

- the SMLAD inner loop of the int16 kernel (the same asm as firmware/sharnn/src/sharnn_q15_internal.h,
  4-row and 3-row blocks): the model's cycles per MAC against the estimate bench/kernel_bench.py
  prints (its ``LOOP_CYCLES``);
- the board wait-state part of the model (flash with 3 wait states, 16-byte lines, no prefetch, no
  cache): fetch and data stalls against the lines the windows touch.

Two figures are the model's choices, not the TRM's (the TRM gives ranges): a taken branch's refill
P = 2 (1..3 in the TRM) and SDIV/UDIV = 12 cycles (2..12). The rows that use them say so.

Exit 0 when every row agrees, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.boards import load_board  # noqa: E402
from workbench.targets.cm4_profile import FlashModel  # noqa: E402
from workbench.targets.cm4_timing import BRANCH_REFILL, DIVIDE_CYCLES  # noqa: E402
from workbench.targets.qemu import QemuTarget  # noqa: E402

P = BRANCH_REFILL          # the model's choice within the TRM's 1..3
RAM = 0x20001000           # scratch words the loads and stores use
T31, L332, T71 = "Table 3-1", "§3.3.2", "Table 7-1"


@dataclass(frozen=True)
class Case:
    name: str
    cls: str
    setup: str           # runs before the window opens
    body: str            # the window
    trm: int             # cycles that follow from the TRM rows in `why`
    why: str


def rep(n: int, text: str) -> str:
    return f".rept {n}\n{text}\n.endr"


def dot_loop(rows: int) -> str:
    """sharnn_q15_internal.h's SHARNN_DOT_LOOP with BODY4/BODY3: w r0, v r1, pairs r2, x0 r3, x1 r12."""
    regs = "r8, r9, r10, r11" if rows == 4 else "r8, r9, r10"

    def body(x: str) -> str:
        lines = [f"ldmia r0!, {{{regs}}}"]
        lines += [f"smlad r{4 + i}, r{8 + i}, {x}, r{4 + i}" for i in range(rows)]
        return "\n".join(lines)

    pass4 = "\n".join(["ldrd r3, r12, [r1], #8", body("r3"), body("r12"), "ldrd r3, r12, [r1], #8", body("r3"),
                       body("r12")])
    return "\n".join(["subs r2, r2, #4", "blt 2f", "1:", pass4, "subs r2, r2, #4", "bge 1b", "2:", "adds r2, r2, #4",
                      "beq 4f", "3:", "ldr r3, [r1], #4", body("r3"), "subs r2, r2, #1", "bne 3b", "4:"])


def dot_window_cycles(rows: int, passes: int) -> int:
    """TRM cycles of dot_loop over 4 * passes pairs: per pass 2 LDRD (1+N = 3) + 4 LDM (1+N) + 4*rows SMLAD
    (1) + SUBS (1) + BGE (1+P taken, 1 the last time), then SUBS, BLT (1, not taken) before and ADDS (1),
    BEQ (1+P, taken) after."""
    per_pass = 2 * 3 + 4 * (1 + rows) + 4 * rows + 1
    return 1 + 1 + passes * per_pass + (passes - 1) * (1 + P) + 1 + 1 + (1 + P)


CASES = [
    Case("ADDS", "alu", "", rep(100, "adds r1, r1, #1"), 100 * 1, f"{T31} Add: 1"),
    Case("MUL", "mul", "", rep(100, "mul r1, r2, r3"), 100 * 1, f"{T31} Multiply: 1"),
    Case("MLA", "mul", "", rep(100, "mla r1, r2, r3, r1"), 100 * 1, f"{T31} Multiply accumulate: 1"),
    Case("SMLAD", "dsp", "", rep(100, "smlad r1, r2, r3, r1"), 100 * 1, f"{T31} DSP dual multiply accumulate: 1"),
    Case("SSAT", "alu", "", rep(100, "ssat r1, #16, r2"), 100 * 1, f"{T31} Saturate: 1"),
    Case("SDIV", "div", "movs r2, #100\nmovs r3, #7", rep(20, "sdiv r1, r2, r3"), 20 * DIVIDE_CYCLES,
         f"{T31} Divide: 2 to 12 (model: {DIVIDE_CYCLES})"),
    Case("LDR, then an ALU op", "ldr", f"ldr r0, ={RAM}", rep(50, "ldr r1, [r0]\nadds r2, r2, #1"), 50 * (2 + 1),
         f"{T31} Load: 2, + Add: 1"),
    Case("LDR, four in a row", "ldr", f"ldr r0, ={RAM}",
         rep(25, "ldr r1, [r0]\nldr r2, [r0, #4]\nldr r3, [r0, #8]\nldr r4, [r0, #12]"), 2 + 99 * 1,
         f"{T31} Load: 2; {L332}: a load after a load is pipelined: 1"),
    Case("LDR, address from the load before", "ldr", f"ldr r0, ={RAM}\nstr r0, [r0]", rep(100, "ldr r0, [r0]"),
         100 * 2, f"{L332}: not pipelined when the first load's result is the address: 2"),
    Case("ADD then LDR from its result", "ldr", f"ldr r5, ={RAM}", rep(50, "add r0, r5, #0\nldr r1, [r0]"),
         50 * (1 + 2 + 1), f"{T31} Add 1, Load 2; {L332}: address from the preceding data processing: +1"),
    Case("STR [Rn, #imm]", "str_imm", f"ldr r0, ={RAM}", rep(100, "str r1, [r0, #4]"), 100 * 1,
         f"{L332}: 'STR Rx,[Ry,#imm] is always one cycle'"),
    Case("STR [Rn, Rm], then an ALU op", "str_reg", f"ldr r0, ={RAM}\nmovs r2, #4",
         rep(50, "str r1, [r0, r2]\nadds r3, r3, #1"), 50 * (2 + 1), f"{T31} Store: 2, + Add: 1"),
    Case("LDR then STR [Rn, Rm]", "str_reg", f"ldr r0, ={RAM}\nmovs r2, #4", rep(50, "ldr r1, [r0]\nstr r1, [r0, r2]"),
         50 * (2 + 1), f"{T31} Load 2, Store 2; {L332}: a store after a load is pipelined: 1"),
    Case("LDRD", "ldrd", f"ldr r0, ={RAM}", rep(50, "ldrd r2, r3, [r0]"), 50 * (1 + 2),
         f"{T31} Load doubleword: 1 + N, N = 2"),
    Case("STRD", "strd", f"ldr r0, ={RAM}", rep(50, "strd r2, r3, [r0]"), 50 * (1 + 2),
         f"{T31} Store doubleword: 1 + N, N = 2"),
    Case("LDM of 4", "ldm", f"ldr r0, ={RAM}", rep(25, "ldm r0, {r1, r2, r3, r4}"), 25 * (1 + 4),
         f"{T31} Load multiple: 1 + N"),
    Case("STM of 4", "stm", f"ldr r0, ={RAM}", rep(25, "stm r0, {r1, r2, r3, r4}"), 25 * (1 + 4),
         f"{T31} Store multiple: 1 + N"),
    Case("PUSH/POP of 4", "stm", "", rep(25, "push {r4, r5, r6, r7}\npop {r4, r5, r6, r7}"), 25 * ((1 + 4) + (1 + 4)),
         f"{T31} Push, Pop: 1 + N"),
    Case("B, taken", "branch", "", rep(50, "b 1f\n1:"), 50 * (1 + P), f"{T31} Branch: 1 + P (model P = {P})"),
    Case("B<cc>, not taken", "branch_cond", "cmp r0, r0", rep(50, "bne 1f\n1:"), 50 * 1,
         f"{T31} Conditional branch not taken: 1"),
    Case("SUBS/BNE loop of 50", "branch_cond", "movs r1, #50", "1:\nsubs r1, r1, #1\nbne 1b", 50 * 1 + 49 * (1 + P) + 1,
         f"{T31} Subtract 1; conditional branch 1 + P taken (model P = {P}), 1 the last time"),
    Case("BL, BX LR", "branch", "", rep(20, "bl leaf"), 20 * ((1 + P) + (1 + P)),
         f"{T31} Branch with link 1 + P, Branch indirect 1 + P (model P = {P})"),
    Case("POP {..., PC}", "ldm", "", rep(20, "bl leaf_pop"), 20 * ((1 + P) + (1 + 2) + (1 + 2 + P)),
         f"{T31} BL 1 + P, Push 1 + N, Pop with PC 1 + N + P (model P = {P})"),
    Case("VADD.F32", "vfp", "", rep(100, "vadd.f32 s0, s1, s2"), 100 * 1, f"{T71} Add: 1"),
    Case("VMUL.F32", "vfp", "", rep(100, "vmul.f32 s0, s1, s2"), 100 * 1, f"{T71} Multiply: 1"),
    Case("VFMA.F32", "vmac", "", rep(100, "vfma.f32 s0, s1, s2"), 100 * 3, f"{T71} Fused multiply accumulate: 3"),
    Case("VMLA.F32", "vmac", "", rep(100, "vmla.f32 s0, s1, s2"), 100 * 3, f"{T71} Multiply accumulate: 3"),
    Case("VDIV.F32", "vdiv", "", rep(20, "vdiv.f32 s0, s1, s2"), 20 * 14, f"{T71} Divide: 14"),
    Case("VSQRT.F32", "vdiv", "", rep(20, "vsqrt.f32 s0, s1"), 20 * 14, f"{T71} Square root: 14"),
    Case("VCVT.S32.F32", "vfp", "", rep(100, "vcvt.s32.f32 s0, s1"), 100 * 1, f"{T71} Convert: 1"),
    Case("VMOV core to single", "vfp", "", rep(100, "vmov s0, r1"), 100 * 1, f"{T71} Move core to single: 1"),
    Case("VMOV two core registers", "vmov2", "", rep(50, "vmov s0, s1, r1, r2"), 50 * 2,
         f"{T71} Move two core registers: 2"),
    Case("VLDR.32", "vldr", f"ldr r0, ={RAM}", rep(50, "vldr s0, [r0]"), 50 * 2, f"{T71} Load single: 2"),
    Case("VSTR.32", "vstr", f"ldr r0, ={RAM}", rep(50, "vstr s0, [r0]"), 50 * 2, f"{T71} Store single: 2"),
    Case("VLDM of 8 singles", "vldm", f"ldr r0, ={RAM}", rep(10, "vldmia r0, {s0-s7}"), 10 * (1 + 8),
         f"{T71} Load multiple: 1 + N"),
    Case("VPUSH/VPOP of 4 singles", "vstm", "", rep(10, "vpush {s16-s19}\nvpop {s16-s19}"), 10 * ((1 + 4) + (1 + 4)),
         f"{T71} Push, Pop: 1 + N"),
]
# The SMLAD loop of the int16 kernel: (rows, passes) windows, two per block size for the per-MAC slope.
DOT_WINDOWS = [(4, 8), (4, 16), (3, 8), (3, 16)]
FLASH = FlashModel(wait_states=3, base=0, size=0x400000, line_bytes=16, prefetch=False,
                   source="cycle_model_check: a synthetic flash for the wait-state check")
FLASH_CASES = [
    Case("flash: 64 ADDS fetched", "alu", "", rep(64, "adds r1, r1, #1"), 64, f"{T31} Add: 1"),
    Case("flash: 32 loads of a flash table", "ldr", "ldr r0, =flash_table", rep(32, "ldr r1, [r0], #4"), 2 + 31,
         f"{T31} Load 2; {L332}: pipelined loads 1"),
]


POOL = "b 9f\n.ltorg\n9:\n"     # each window's constants right after it, outside the window


def source() -> str:
    windows = []
    for i, c in enumerate(CASES + FLASH_CASES):
        windows.append(f"@ window {i}: {c.name}\n{c.setup}\nbl wb_count_begin\n.global win{i}_start\nwin{i}_start:\n"
                       f"{c.body}\n.global win{i}_end\nwin{i}_end:\nbl wb_count_end\n{POOL}")
    base = len(windows)
    for j, (rows, passes) in enumerate(DOT_WINDOWS):
        windows.append(f"@ window {base + j}: SMLAD loop, {rows}-row blocks, {passes} passes\n"
                       f"ldr r0, ={RAM + 0x100}\nldr r1, ={RAM + 0x2000}\nmovs r2, #{4 * passes}\n"
                       f"bl wb_count_begin\n{dot_loop(rows)}\nbl wb_count_end\n{POOL}")
    body = "\n".join(windows)
    return f"""@ Generated by bench/cycle_model_check.py: Cortex-M4 cycle-model microbenchmarks (mps2-an386).
    .syntax unified
    .cpu cortex-m4
    .fpu fpv4-sp-d16
    .thumb

    .section .vectors, "a"
    .word 0x20040000
    .word Reset_Handler
    .word Fault_Handler
    .word Fault_Handler
    .word Fault_Handler
    .word Fault_Handler
    .word Fault_Handler

    .text
    .thumb_func
    .global Reset_Handler
    .type Reset_Handler, %function
Reset_Handler:
    ldr r0, =0xE000ED88          @ CPACR: the FPU on before the first FP instruction
    ldr r1, [r0]
    orr r1, r1, #(0xF << 20)
    str r1, [r0]
    dsb
    isb
{body}
    movs r0, #0
    b exit
    .ltorg
    .size Reset_Handler, . - Reset_Handler

    .thumb_func
    .type Fault_Handler, %function
Fault_Handler:
    movs r0, #99
    b exit
    .size Fault_Handler, . - Fault_Handler

    .thumb_func
    .type exit, %function
exit:                            @ semihosting SYS_EXIT_EXTENDED with code r0
    ldr r1, =exit_block
    str r0, [r1, #4]
    movs r0, #0x20
    bkpt 0xab
    b .
    .ltorg
    .size exit, . - exit

    .thumb_func
    .global wb_count_begin
    .type wb_count_begin, %function
wb_count_begin:
    bx lr
    .size wb_count_begin, . - wb_count_begin

    .thumb_func
    .global wb_count_end
    .type wb_count_end, %function
wb_count_end:
    bx lr
    .size wb_count_end, . - wb_count_end

    .thumb_func
    .type leaf, %function
leaf:
    bx lr
    .size leaf, . - leaf

    .thumb_func
    .type leaf_pop, %function
leaf_pop:
    push {{r4, lr}}
    pop {{r4, pc}}
    .size leaf_pop, . - leaf_pop

    .balign 16
flash_table:
    .rept 32
    .word 0
    .endr

    .data
exit_block:
    .word 0x20026, 0
"""


LINKER = """MEMORY { FLASH (rx) : ORIGIN = 0x00000000, LENGTH = 4M
         RAM (rwx) : ORIGIN = 0x20000000, LENGTH = 256K }
ENTRY(Reset_Handler)
SECTIONS { .text : { KEEP(*(.vectors)) *(.text*) } > FLASH
           .data : { *(.data*) } > RAM }
"""


def build(out: Path) -> Path:
    (out / "micro.S").write_text(source())
    (out / "micro.ld").write_text(LINKER)
    elf = out / "micro.elf"
    proc = subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                           "-nostdlib", "-nostartfiles", "-g", "-T", str(out / "micro.ld"), str(out / "micro.S"),
                           "-o", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"cycle_model_check: the microbenchmarks do not assemble:\n{proc.stderr}")
    return elf


def symbols(elf: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return {parts[2]: int(parts[0], 16) for parts in (line.split() for line in out.splitlines()) if len(parts) == 3}


def run(elf: Path, workdir: Path, flash: FlashModel | None) -> list:
    target = QemuTarget(load_board("mps2-an386"), elf, workdir=workdir, flash=flash)
    target.run_to_exit(timeout=120)
    return target.windows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", help="build in this folder and keep it (default: a temporary folder)")
    args = ap.parse_args(argv)
    if not all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm", "gcc")):
        print("cycle_model_check: needs arm-none-eabi-gcc, qemu-system-arm and gcc", file=sys.stderr)
        return 2
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="wb-cycle-model-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        elf = build(work)
        plain = run(elf, work / "qemu", None)
        flashed = run(elf, work / "qemu-flash", FLASH)
        ok = report(plain, flashed, symbols(elf))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def report(plain: list, flashed: list, syms: dict[str, int]) -> bool:
    n_cases = len(CASES) + len(FLASH_CASES)
    assert len(plain) == n_cases + len(DOT_WINDOWS), f"{len(plain)} windows ran"
    print("Cortex-M4 cycle model against the TRM (ARM DDI 0439B), zero wait states; one window per class")
    print(f"{'instruction class':34} {'class':12} {'insns':>6} {'TRM':>6} {'model':>6}  agree  TRM rows")
    ok = True
    for c, w in zip(CASES, plain):
        same = w.cycles == c.trm
        ok &= same
        print(f"{c.name:34} {c.cls:12} {w.insns:6d} {c.trm:6d} {w.cycles:6d}  {'yes' if same else 'NO ':5}  {c.why}")

    print("\nSMLAD inner loop of the int16 kernel (sharnn_q15_internal.h), cycles per MAC of a loop pass")
    from kernel_bench import LOOP_CYCLES, LOOP_MACS

    dots = plain[n_cases:]
    for r in (4, 3):
        (a, pa), (b, pb) = [(w, p) for (rows, p), w in zip(DOT_WINDOWS, dots) if rows == r]
        for w, p in ((a, pa), (b, pb)):
            same = w.cycles == dot_window_cycles(r, p)
            ok &= same
            print(f"  {r}-row blocks, {p:2d} passes: TRM {dot_window_cycles(r, p):5d}, model {w.cycles:5d}  "
                  f"{'yes' if same else 'NO'}")
        model = (b.cycles - a.cycles) / ((pb - pa) * LOOP_MACS[r])
        bench = LOOP_CYCLES[r] / LOOP_MACS[r]
        ok &= model == bench
        print(f"  {r}-row blocks: model {model:.4f} cycles/MAC, kernel_bench.py estimate {LOOP_CYCLES[r]}/"
              f"{LOOP_MACS[r]} = {bench:.4f}  {'equal' if model == bench else 'DIFFER'}")

    print(f"\nFlash wait states (model, not TRM): {FLASH.wait_states} wait states, {FLASH.line_bytes}-byte lines, "
          "no prefetch, no cache")
    for i, c in enumerate(FLASH_CASES):
        w = flashed[len(CASES) + i]
        start, end = syms[f"win{len(CASES) + i}_start"], syms[f"win{len(CASES) + i}_end"] + 4
        fetch = (end - 1) // FLASH.line_bytes - start // FLASH.line_bytes + 1
        data = 32 * 4 // FLASH.line_bytes if "table" in c.name else 0
        want = c.trm + (fetch + data) * FLASH.wait_states
        same = w.cycles == want and w.flash_stall == (fetch + data) * FLASH.wait_states
        ok &= same
        print(f"  {c.name:34} TRM {c.trm} + ({fetch} code lines + {data} data lines) x {FLASH.wait_states} = {want}, "
              f"model {w.cycles} (stalls {w.flash_stall})  {'yes' if same else 'NO'}")
    print("\nall agree" if ok else "\nDISAGREEMENT: see the rows marked NO")
    return ok


if __name__ == "__main__":
    sys.exit(main())
