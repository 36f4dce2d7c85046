/*
 * A ShaRNN window on two cores: see wb_parallel.h. Shared state is a job number core 0 raises to
 * start core 1 and a count of bricks core 1 has finished; each side writes only its own, after a
 * DMB so the data it publishes is visible first. Core 0 wakes core 1 for a window (core 1 sleeps
 * between windows); within a window core 1 wakes core 0 with SEV after each brick.
 */
#include "wb_parallel.h"

#include "wb_count.h"
#include "wb_port.h"

/* Builds that glob the runner's sources (the Zephyr app) compile this file on one core too. */
#if defined(WB_CORES) && WB_CORES == 2

static const wb_par_plan_t *plan;
static volatile uint32_t job;            /* raised by core 0: a window is ready for core 1 */
static volatile uint32_t core1_done;     /* bricks core 1 has finished in the current job */
static volatile uint32_t core1_peak;     /* bytes of core 1's stack used, peak over the jobs */

static inline void dmb(void) { __asm volatile("dmb" ::: "memory"); }

static void core1_main(void)
{
    uint32_t seen = 0;
    for (;;) {
        while (job == seen) {
            wb_port_core1_sleep();
        }
        seen = job;
        dmb();
        wb_port_core1_stack_paint();
        const uint32_t first = plan->core0_bricks, n = plan->bricks - first;
        for (uint32_t i = 0; i < n; i++) {
            wb_count_begin();
            plan->lower(1u, first + i, 1u);
            wb_count_end();      /* before publishing: the count is written before core 0 can answer */
            if (i + 1u == n) {
                uint32_t used = (uint32_t)(wb_port_core1_stack_top() - wb_port_core1_stack_low_water());
                if (used > core1_peak) {
                    core1_peak = used;
                }
            }
            dmb();
            core1_done = i + 1u;
            wb_port_event_send();
        }
    }
}

void wb_par_init(const wb_par_plan_t *p)
{
    plan = p;
    wb_port_core1_start(core1_main);
}

void wb_par_infer(void)
{
    const uint32_t first = plan->core0_bricks;
    core1_done = 0;
    dmb();
    job = job + 1u;
    wb_port_core1_wake();
    for (uint32_t b = 0; b < first; b++) {
        plan->lower(0u, b, 1u);
        plan->upper(b);
    }
    for (uint32_t b = first; b < plan->bricks; b++) {
        wb_count_end();          /* waiting is not work: the count pauses */
        while (core1_done <= b - first) {
            wb_port_event_wait();
        }
        dmb();
        wb_count_begin();
        plan->upper(b);
    }
}

uint32_t wb_par_core1_stack_peak(void) { return core1_peak; }
size_t wb_par_core1_stack_size(void) { return wb_port_core1_stack_size(); }

#endif /* WB_CORES == 2 */
