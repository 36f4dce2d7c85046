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

/* Ports override the external interrupts they use (weak defaults report like a fault). */
#define WEAK_IRQ(n) void wb_irq##n##_handler(void) __attribute__((weak, alias("default_handler")));
WEAK_IRQ(0) WEAK_IRQ(1) WEAK_IRQ(2) WEAK_IRQ(3) WEAK_IRQ(4) WEAK_IRQ(5) WEAK_IRQ(6) WEAK_IRQ(7)
WEAK_IRQ(8) WEAK_IRQ(9) WEAK_IRQ(10) WEAK_IRQ(11) WEAK_IRQ(12) WEAK_IRQ(13) WEAK_IRQ(14) WEAK_IRQ(15)
WEAK_IRQ(16) WEAK_IRQ(17) WEAK_IRQ(18) WEAK_IRQ(19) WEAK_IRQ(20) WEAK_IRQ(21) WEAK_IRQ(22) WEAK_IRQ(23)
WEAK_IRQ(24) WEAK_IRQ(25) WEAK_IRQ(26) WEAK_IRQ(27) WEAK_IRQ(28) WEAK_IRQ(29) WEAK_IRQ(30) WEAK_IRQ(31)
WEAK_IRQ(32) WEAK_IRQ(33) WEAK_IRQ(34) WEAK_IRQ(35) WEAK_IRQ(36) WEAK_IRQ(37) WEAK_IRQ(38) WEAK_IRQ(39)
WEAK_IRQ(40) WEAK_IRQ(41) WEAK_IRQ(42) WEAK_IRQ(43) WEAK_IRQ(44) WEAK_IRQ(45) WEAK_IRQ(46) WEAK_IRQ(47)
WEAK_IRQ(48) WEAK_IRQ(49) WEAK_IRQ(50) WEAK_IRQ(51) WEAK_IRQ(52) WEAK_IRQ(53) WEAK_IRQ(54) WEAK_IRQ(55)
WEAK_IRQ(56) WEAK_IRQ(57) WEAK_IRQ(58) WEAK_IRQ(59) WEAK_IRQ(60) WEAK_IRQ(61) WEAK_IRQ(62) WEAK_IRQ(63)

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

void default_handler(void)
{
    cm_fault_entry();
}

typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) const vector_t cm_vectors[16 + 64] = {
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
    /* External interrupts 0..63 (enough for the QEMU machines we run; none faults unless used). */
    wb_irq0_handler, wb_irq1_handler, wb_irq2_handler, wb_irq3_handler,
    wb_irq4_handler, wb_irq5_handler, wb_irq6_handler, wb_irq7_handler,
    wb_irq8_handler, wb_irq9_handler, wb_irq10_handler, wb_irq11_handler,
    wb_irq12_handler, wb_irq13_handler, wb_irq14_handler, wb_irq15_handler,
    wb_irq16_handler, wb_irq17_handler, wb_irq18_handler, wb_irq19_handler,
    wb_irq20_handler, wb_irq21_handler, wb_irq22_handler, wb_irq23_handler,
    wb_irq24_handler, wb_irq25_handler, wb_irq26_handler, wb_irq27_handler,
    wb_irq28_handler, wb_irq29_handler, wb_irq30_handler, wb_irq31_handler,
    wb_irq32_handler, wb_irq33_handler, wb_irq34_handler, wb_irq35_handler,
    wb_irq36_handler, wb_irq37_handler, wb_irq38_handler, wb_irq39_handler,
    wb_irq40_handler, wb_irq41_handler, wb_irq42_handler, wb_irq43_handler,
    wb_irq44_handler, wb_irq45_handler, wb_irq46_handler, wb_irq47_handler,
    wb_irq48_handler, wb_irq49_handler, wb_irq50_handler, wb_irq51_handler,
    wb_irq52_handler, wb_irq53_handler, wb_irq54_handler, wb_irq55_handler,
    wb_irq56_handler, wb_irq57_handler, wb_irq58_handler, wb_irq59_handler,
    wb_irq60_handler, wb_irq61_handler, wb_irq62_handler, wb_irq63_handler,
};
