/*
 * wb_parallel.h - a ShaRNN window on two cores (k-wise parallelism; ports with a second core, built
 * with CORES=2, WB_CORES == 2).
 *
 * The lower level's T/k bricks are independent. Static partition: core 0 computes bricks
 * [0, core0_bricks) and runs the upper level over each as it goes; core 1 computes the others
 * (T/k - core0_bricks, the larger half: core 0 also runs the upper level) in order and publishes
 * each as it is done; core 0 then runs the upper level over them in order, waiting for each.
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

/* Bricks on core 0 for a window of `bricks` bricks: the smaller half (the handshake reports it). */
#define WB_PAR_CORE0_BRICKS(bricks) ((bricks) / 2u)

/* Start core 1 (once, before the first window). */
void wb_par_init(const wb_par_plan_t *plan);

/* One window on both cores; returns when the logits are written. */
void wb_par_infer(void);

/* Peak stack of core 1 over the windows so far (stack painting), its stack size. */
uint32_t wb_par_core1_stack_peak(void);
size_t wb_par_core1_stack_size(void);

#endif /* WB_PARALLEL_H */
