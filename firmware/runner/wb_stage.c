/* Stage checkpoints (see wb_stage.h). Compiled into every runner; the hooks only run in firmware
 * whose kernel was built with -finstrument-functions (--breakdown), and count only inside a window. */
#include "wb_stage.h"

#if defined(WB_BREAKDOWN)
#include <stddef.h>

#include "wb_port.h"

#define NO_HOOK __attribute__((no_instrument_function))
#define DEPTH_MAX 32u
#define LEVELS 3u                    /* lower, upper, head own what they call */
#define STAGE_IO 3u
#define CTX_LIB 7u

/* Filled by the host after linking; volatile so the compiler never folds its placeholder zeros. */
__attribute__((used)) const volatile wb_stage_table_t wb_stage_table = { WB_STAGE_MAGIC, 0u, { { 0u, 0u } } };

static uint32_t cycles[WB_STAGE_COUNT + 1u];
static uint32_t last;
static uint8_t current, active;
static uint8_t stack[DEPTH_MAX];
static uint32_t depth;

NO_HOOK static uint32_t context_of(uint32_t fn)
{
    uint32_t lo = 0u, hi = wb_stage_table.len;
    if (hi > WB_STAGE_TABLE_MAX) {
        hi = WB_STAGE_TABLE_MAX;
    }
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        uint32_t at = wb_stage_table.roles[mid].fn;
        if (at == fn) {
            return wb_stage_table.roles[mid].ctx;
        }
        if (at < fn) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return CTX_LIB;
}

NO_HOOK static uint8_t resolve(uint8_t inherited, uint32_t ctx)
{
    ctx &= 7u;
    if (inherited < LEVELS) {
        return inherited;
    }
    return ctx == CTX_LIB ? inherited : (uint8_t)ctx;
}

NO_HOOK void wb_stage_window_begin(uint32_t t0)
{
    for (size_t i = 0; i <= WB_STAGE_COUNT; i++) {
        cycles[i] = 0u;
    }
    current = STAGE_IO;
    depth = 0u;
    last = t0;
    active = 1u;
}

NO_HOOK void wb_stage_window_end(uint32_t t1)
{
    cycles[current] += t1 - last;
    active = 0u;
}

NO_HOOK const uint32_t *wb_stage_cycles(void)
{
    return cycles;
}

NO_HOOK void __cyg_profile_func_enter(void *fn, void *call_site)
{
    (void)call_site;
    if (!active) {
        return;
    }
    uint32_t t = wb_port_counter();
    cycles[current] += t - last;
    if (depth < DEPTH_MAX) {
        stack[depth] = current;
    }
    depth++;
    current = resolve(current, context_of((uint32_t)(uintptr_t)fn));
    last = wb_port_counter();
    cycles[WB_STAGE_CHECKPOINTS] += last - t;
}

NO_HOOK void __cyg_profile_func_exit(void *fn, void *call_site)
{
    (void)fn;
    (void)call_site;
    if (!active || depth == 0u) {
        return;
    }
    uint32_t t = wb_port_counter();
    cycles[current] += t - last;
    depth--;
    if (depth < DEPTH_MAX) {
        current = stack[depth];
    }
    last = wb_port_counter();
    cycles[WB_STAGE_CHECKPOINTS] += last - t;
}
#endif /* WB_BREAKDOWN */
