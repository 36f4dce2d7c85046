/*
 * wb_stage.h - stage checkpoints: where the cycles of an inference go, on a device that counts
 * cycles (the DWT of a real board, Renode's virtual time), in firmware built with --breakdown.
 *
 * The kernel's composition files are compiled with -finstrument-functions: every kernel function
 * (inlined or not) calls __cyg_profile_func_enter/exit, which read the port's counter and charge the
 * cycles since the last reading to the stage running until then. A function's stage context comes
 * from wb_stage_table, which the host fills in after linking (workbench/targets/stages.py,
 * patch_stage_table: function addresses from the ELF, contexts from the same name rules as the QEMU
 * plugin's stage map); the rule along the call chain is the plugin's too (a level owns what it calls).
 * The hooks' own cycles (between their two counter readings) go to a checkpoint bucket of their own,
 * so the stages plus that bucket sum exactly to the inference's counter delta.
 */
#ifndef WB_STAGE_H
#define WB_STAGE_H

#include <stdint.h>

#if defined(CONFIG_SHARNN_CHECKPOINTS) && !defined(WB_BREAKDOWN)
#define WB_BREAKDOWN 1               /* Zephyr: the sharnn module's Kconfig option */
#endif

#define WB_STAGE_COUNT 5u            /* lower, upper, head, io, other (workbench/targets/stages.py) */
#define WB_STAGE_CHECKPOINTS 5u      /* index of the hooks' own cycles */
#define WB_STAGE_TABLE_MAX 96u
#define WB_STAGE_MAGIC 0x54534257u   /* "WBST": the host checks it before it patches the table */

typedef struct {
    uint32_t fn;                     /* function address as a function pointer holds it (Thumb bit set) */
    uint32_t ctx;                    /* stage context code (stages.py): a stage, or 7: the caller's */
} wb_stage_role_t;

typedef struct {
    uint32_t magic;
    uint32_t len;                    /* entries used, sorted by fn */
    wb_stage_role_t roles[WB_STAGE_TABLE_MAX];
} wb_stage_table_t;

/* Open the measured window at counter reading t0 (the io stage runs first) / close it at t1. */
void wb_stage_window_begin(uint32_t t0);
void wb_stage_window_end(uint32_t t1);
/* The last window's cycles per stage, WB_STAGE_COUNT + 1 values (the last: the checkpoints'). */
const uint32_t *wb_stage_cycles(void);

#endif /* WB_STAGE_H */
