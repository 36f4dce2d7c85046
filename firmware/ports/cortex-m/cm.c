/* Shared Cortex-M support for the bare-metal ports; see cm.h. */
#include "cm.h"

#include <stddef.h>

#define STACK_PAINT 0xC5C5C5C5u
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

extern uint32_t __stack_limit[];
extern uint32_t __stack_top[];

int cm_semihost(int op, void *arg)
{
    register int r0 __asm("r0") = op;
    register void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void cm_semihost_write0(const char *s)
{
    cm_semihost(SYS_WRITE0, (void *)s);
}

void cm_semihost_exit(int code)
{
    /* SYS_EXIT_EXTENDED carries any exit code; plain SYS_EXIT only 0 or 1. */
    uint32_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code };
    cm_semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void cm_counter_start(void)
{
    CM_SYST_RVR = 0x00FFFFFFu;
    CM_SYST_CVR = 0;
    CM_SYST_CSR = 7u;                 /* enable, interrupt on wrap, core clock */
}

uint32_t cm_counter_read(void)
{
    uint32_t w1, v, w2;
    do {
        w1 = systick_wraps;
        v = CM_SYST_CVR;
        w2 = systick_wraps;
    } while (w1 != w2);
    return (w1 << 24) + (0x00FFFFFFu - v);   /* SysTick counts down */
}

static inline uintptr_t current_sp(void)
{
    uintptr_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void cm_stack_paint_from(uint32_t *limit)
{
    /* Leave 32 bytes below our own frame: this function's pushes must not be counted as inference. */
    uint32_t *end = (uint32_t *)((current_sp() - 32u) & ~(uintptr_t)3u);
    for (uint32_t *p = limit; p < end; p++) {
        *p = STACK_PAINT;
    }
}

uintptr_t cm_stack_low_water_in(uint32_t *limit, uint32_t *top)
{
    uint32_t *p = limit;
    while (p < top && *p == STACK_PAINT) {
        p++;
    }
    return (uintptr_t)p;
}

void cm_stack_paint(void) { cm_stack_paint_from(__stack_limit); }
uintptr_t cm_stack_low_water(void) { return cm_stack_low_water_in(__stack_limit, __stack_top); }
uintptr_t cm_stack_top(void) { return (uintptr_t)__stack_top; }
uint32_t cm_stack_size(void) { return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit); }

static char *put_hex(char *p, const char *label, uint32_t v)
{
    while (*label) {
        *p++ = *label++;
    }
    for (int s = 28; s >= 0; s -= 4) {
        *p++ = "0123456789abcdef"[(v >> s) & 0xfu];
    }
    return p;
}

/* Called by the fault vectors with the exception frame the core stacked. */
void cm_fault_report(uint32_t *frame, uint32_t exc_return)
{
    char line[160];
    char *p = line;
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    p = put_hex(p, "WB-FAULT exc=", ipsr & 0x1ffu);
    p = put_hex(p, " pc=", frame[6]);
    p = put_hex(p, " lr=", frame[5]);
    p = put_hex(p, " cfsr=", CM_SCB_CFSR);
    p = put_hex(p, " hfsr=", CM_SCB_HFSR);
    p = put_hex(p, " mmfar=", CM_SCB_MMFAR);
    p = put_hex(p, " bfar=", CM_SCB_BFAR);
    p = put_hex(p, " excret=", exc_return);
    *p++ = '\n';
    *p = 0;
    cm_semihost_write0(line);
    cm_semihost_exit(CM_FAULT_EXIT_CODE);
}

/* Every fault vector lands here: pick the stack the frame was pushed on (EXC_RETURN bit 2). */
__attribute__((naked)) void cm_fault_entry(void)
{
    __asm volatile(
        "tst lr, #4\n"
        "ite eq\n"
        "mrseq r0, msp\n"
        "mrsne r0, psp\n"
        "mov r1, lr\n"
        "b cm_fault_report\n");
}
