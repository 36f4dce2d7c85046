/*
 * Reset and vector table for the bare-metal Cortex-M4 ports. The FPU is enabled before any C code
 * that could use it (a VFP instruction with CPACR clear faults with UsageFault NOCP).
 */
#include <stdint.h>
#include <string.h>

#include "cm.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
extern int main(void);
void cm_fault_entry(void);
void SysTick_Handler(void);

__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    /* Full access to CP10/CP11 (the FPU), then barriers so the next instruction sees it. */
    __asm volatile(
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "b cm_reset_c\n");
}

__attribute__((noreturn, used)) void cm_reset_c(void)
{
    memcpy(__data_start, __data_load, (size_t)((uintptr_t)__data_end - (uintptr_t)__data_start));
    memset(__bss_start, 0, (size_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start));
    cm_stack_paint();
    cm_counter_start();
    int rc = main();
    cm_semihost_exit(rc);
}

static void default_handler(void)
{
    cm_fault_entry();
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t cm_vectors[16 + 32] = {
    (vector_t)__stack_top,
    Reset_Handler,
    default_handler,   /* NMI */
    cm_fault_entry,    /* HardFault */
    cm_fault_entry,    /* MemManage */
    cm_fault_entry,    /* BusFault */
    cm_fault_entry,    /* UsageFault */
    0, 0, 0, 0,
    default_handler,   /* SVCall */
    default_handler,   /* DebugMonitor */
    0,
    default_handler,   /* PendSV */
    SysTick_Handler,
    /* External interrupts: none enabled; a stray one is reported like a fault. */
    [16 ... 47] = default_handler,
};
