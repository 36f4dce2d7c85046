/*
 * Core 1 of the SSE-200 (built with CORES=2). At reset it waits while its bit in the system control
 * block's CPUWAIT register is set; core 0 points INITSVTOR1 at core 1's vector table, then clears the
 * bit: core 1 then boots from that table (its own stack, Secure state like core 0), enables its own
 * FPU (CPACR is per core) and runs the function core 0 gave it. Checked on QEMU 7.2: CPUWAIT reads 2
 * at reset, and core 1 reads its VTOR as the table below.
 *
 * Within a window the cores hand bricks over with SEV/WFE (DSB then SEV wakes the other core from
 * WFE; the event register latches an SEV that comes before the WFE, so a wait loop that checks its
 * condition before WFE misses nothing). Between windows core 1 sleeps in WFI instead, woken by the
 * SSE-200's message handling unit MHU0 (core 0 sets a bit of its CPU1INTR; its line to core 1 is
 * core 1's interrupt 6), because QEMU 7.2 implements WFE as a yield, not a sleep: a core 1 spinning
 * on WFE while core 0 sleeps in WFI for the UART starves QEMU's I/O thread (checked: the HELLO of a
 * UART session then never arrives). PRIMASK stays set on core 1: the interrupt only ends WFI.
 */
#include "cm.h"
#include "wb_port.h"

#define SYSCTL_BASE 0x50021000u            /* SSE-200 system control registers, Secure only */
#define SYSCTL_INITSVTOR1 CM_REG(SYSCTL_BASE + 0x114u)
#define SYSCTL_CPUWAIT CM_REG(SYSCTL_BASE + 0x118u)
#define CPUWAIT_CPU1 0x2u
#define MHU0_BASE 0x50003000u              /* SSE-200 message handling unit 0, Secure alias */
#define MHU_CPU1INTR_SET CM_REG(MHU0_BASE + 0x14u)
#define MHU_CPU1INTR_CLR CM_REG(MHU0_BASE + 0x18u)
#define MHU0_CORE1_IRQ 6u                  /* per core: MHU0's line to core 1 */

extern uint32_t __stack1_limit[], __stack1_top[];
void cm_fault_entry(void);
void default_handler(void);
static void core1_reset(void);

static void (*volatile core1_main)(void);

typedef void (*vector_t)(void);

/* Faults on core 1 report and exit like core 0's; core 1 takes no interrupts. VTOR alignment: the
 * table's size rounded up to a power of two (64 bytes), 128 to be safe. */
__attribute__((aligned(128))) static const vector_t core1_vectors[16] = {
    (vector_t)__stack1_top,
    core1_reset,
    default_handler,   /* NMI */
    cm_fault_entry,    /* HardFault */
    cm_fault_entry,    /* MemManage */
    cm_fault_entry,    /* BusFault */
    cm_fault_entry,    /* UsageFault */
    cm_fault_entry,    /* SecureFault */
    0, 0, 0,
    default_handler,   /* SVCall */
    default_handler,   /* DebugMonitor */
    0,
    default_handler,   /* PendSV */
    default_handler,   /* SysTick */
};

__attribute__((naked, noreturn)) static void core1_reset(void)
{
    __asm volatile(
        "ldr r0, =0xE000ED88\n"            /* CPACR: full access to CP10/CP11 (the FPU) */
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "b core1_c\n");
}

__attribute__((noreturn, used)) void core1_c(void)
{
    __asm volatile("cpsid i" ::: "memory");
    cm_irq_enable(MHU0_CORE1_IRQ);
    core1_main();
    for (;;) {
        wb_port_core1_sleep();
    }
}

void wb_port_core1_start(void (*main1)(void))
{
    core1_main = main1;
    SYSCTL_INITSVTOR1 = (uint32_t)core1_vectors;
    __asm volatile("dsb" ::: "memory");
    SYSCTL_CPUWAIT &= ~CPUWAIT_CPU1;
}

void wb_port_core1_wake(void)
{
    __asm volatile("dsb" ::: "memory");
    MHU_CPU1INTR_SET = 1u;
}

/* The doorbell's interrupt stays pending in the NVIC after the MHU bit is cleared: clear both, after
 * WFI, so a ring that comes between the caller's check and WFI still ends this WFI at once. */
void wb_port_core1_sleep(void)
{
    __asm volatile("wfi" ::: "memory");
    MHU_CPU1INTR_CLR = 1u;
    cm_irq_clear_pending(MHU0_CORE1_IRQ);
}

void wb_port_event_send(void)
{
    __asm volatile("dsb\n sev" ::: "memory");
}

void wb_port_event_wait(void)
{
    __asm volatile("wfe" ::: "memory");
}

void wb_port_core1_stack_paint(void) { cm_stack_paint_from(__stack1_limit); }
uintptr_t wb_port_core1_stack_low_water(void) { return cm_stack_low_water_in(__stack1_limit, __stack1_top); }
uintptr_t wb_port_core1_stack_top(void) { return (uintptr_t)__stack1_top; }
size_t wb_port_core1_stack_size(void) { return (size_t)((uintptr_t)__stack1_top - (uintptr_t)__stack1_limit); }
