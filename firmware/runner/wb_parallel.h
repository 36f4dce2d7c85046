/*
 * wb_parallel.h - a ShaRNN window on two cores (k-wise parallelism; ports with a second core, built
 * with CORES=2, WB_CORES == 2).
 *
 * The lower level's T/k bricks are independent. Static partition: core 0 computes bricks
 * [0, core0_bricks) and runs the upper level over each as it goes; core 1 computes the others
 * (the larger share: core 0 also runs the upper level; see WB_PAR_CORE0_BRICKS) in order and
 * publishes each as it is done; core 0 then runs the upper level over them in order, waiting for
 * each. A static partition, not a shared brick index: under emulation the cores run in turn, so a
 * dynamic one would measure QEMU's scheduling, not the hardware's.
 *
 * Counting (the instruction-count plugin in per-vCPU mode): the runner brackets the inference on
 * core 0 with wb_count_begin/end; core 0 pauses the count while it waits for a brick (end, wait,
 * begin), so its lines per window are: its bricks and upper steps, then one line per upper step over
 * a core-1 brick. Core 1 brackets each brick. The host rebuilds the critical path from these lines
 * (workbench/targets/qemu.py): waiting is not work, and time on each core is what it executes.
 */
#ifndef WB_PARALLEL_H
#define WB_PARALLEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t bricks;          /* T/k */
    uint32_t core0_bricks;    /* bricks [0, core0_bricks) run on core 0, the rest on core 1 */
    /* Bricks [first, first + count) of the current window on `core` (its own scratch). */
    void (*lower)(uint32_t core, uint32_t first, uint32_t count);
    /* The upper level's step over brick `index` (core 0); the last one writes the logits. */
    void (*upper)(uint32_t index);
} wb_par_plan_t;

/* Bricks on core 0 for a window of N bricks, from the MACs of a brick (B = k x the lower level's
 * MACs per step) and of an upper step (U). Core 0 computes s bricks and the upper steps over them,
 * then one upper step after each of core 1's N - s bricks; core 1 ends its last brick at (N - s)B. In
 * MACs the window ends at max(sB + NU, (N - s)B + U): the two balance at s* = (NB - (N - 1)U) / 2B.
 * The split takes the better of floor(s*) and floor(s*) + 1 (at most N - 1: core 1 always has one).
 * The handshake reports it. */
#define WB_PAR_END(n, b, u, s) ((s) * (b) + (n) * (u) > ((n) - (s)) * (b) + (u) ? (s) * (b) + (n) * (u) \
                                                                                : ((n) - (s)) * (b) + (u))
#define WB_PAR_S0(n, b, u) (((n) * (b) > ((n) - 1u) * (u)) ? ((n) * (b) - ((n) - 1u) * (u)) / (2u * (b)) : 0u)
#define WB_PAR_S1(n, b, u) (WB_PAR_S0(n, b, u) + 1u < (n) ? WB_PAR_S0(n, b, u) + 1u : WB_PAR_S0(n, b, u))
#define WB_PAR_CORE0_BRICKS(n, b, u)                                                                      \
    (WB_PAR_END(n, b, u, WB_PAR_S1(n, b, u)) < WB_PAR_END(n, b, u, WB_PAR_S0(n, b, u)) ? WB_PAR_S1(n, b, u) \
                                                                                          : WB_PAR_S0(n, b, u))

/* Start core 1 (once, before the first window). */
void wb_par_init(const wb_par_plan_t *plan);

/* One window on both cores; returns when the logits are written. */
void wb_par_infer(void);

/* Peak stack of core 1 over the windows so far (stack painting), its stack size. */
uint32_t wb_par_core1_stack_peak(void);
size_t wb_par_core1_stack_size(void);

#endif /* WB_PARALLEL_H */
