/*
 * cm.h - Cortex-M pieces shared by the bare-metal ports: system registers, semihosting, SysTick
 * counter, stack painting, fault reporting. A port adds its UART, clock and linker script.
 */
#ifndef WB_CM_H
#define WB_CM_H

#include <stdint.h>

#define CM_REG(addr) (*(volatile uint32_t *)(addr))

#define CM_SCB_CPACR CM_REG(0xE000ED88u)
#define CM_SCB_CFSR CM_REG(0xE000ED28u)
#define CM_SCB_HFSR CM_REG(0xE000ED2Cu)
#define CM_SCB_MMFAR CM_REG(0xE000ED34u)
#define CM_SCB_BFAR CM_REG(0xE000ED38u)
#define CM_SYST_CSR CM_REG(0xE000E010u)
#define CM_SYST_RVR CM_REG(0xE000E014u)
#define CM_SYST_CVR CM_REG(0xE000E018u)

static inline void cm_irq_enable(unsigned irq)
{
    CM_REG(0xE000E100u + 4u * (irq / 32u)) = 1u << (irq % 32u);
}

static inline void cm_irq_disable(unsigned irq)
{
    CM_REG(0xE000E180u + 4u * (irq / 32u)) = 1u << (irq % 32u);
    __asm volatile("dsb\n isb" ::: "memory");
}

static inline void cm_irq_clear_pending(unsigned irq)
{
    CM_REG(0xE000E280u + 4u * (irq / 32u)) = 1u << (irq % 32u);
}

/* Semihosting (QEMU with -semihosting-config enable=on). */
int cm_semihost(int op, void *arg);
void cm_semihost_write0(const char *s);
__attribute__((noreturn)) void cm_semihost_exit(int code);

/* SysTick as a free-running 32-bit counter at the core clock (wraps counted in its interrupt). */
void cm_counter_start(void);
uint32_t cm_counter_read(void);

/* Stack painting between the linker's __stack_limit and the current stack pointer; the _from/_in
 * forms take another stack's bounds (a second core's). */
void cm_stack_paint_from(uint32_t *limit);
uintptr_t cm_stack_low_water_in(uint32_t *limit, uint32_t *top);
void cm_stack_paint(void);
uintptr_t cm_stack_low_water(void);
uintptr_t cm_stack_top(void);
uint32_t cm_stack_size(void);

/* Exit code a port uses when the core faulted (the host reports PC/LR/CFSR from semihosting). */
#define CM_FAULT_EXIT_CODE 70

#endif /* WB_CM_H */
