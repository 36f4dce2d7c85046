/*
 * The runner's byte link over an Arm CMSDK APB UART (the mps2 machines), at CMSDK_UART_BASE with its
 * RX interrupt line CMSDK_UART_RX_IRQ (both given by the port's port.mk).
 *
 * QEMU's UART model keeps an incoming byte waiting until RX is read, so polling loses nothing; the
 * RX interrupt only wakes the core from WFI, which lets QEMU's I/O thread run instead of a spinning
 * guest (round trips drop from milliseconds to tens of microseconds).
 *
 * The RX interrupt is enabled in the NVIC only while the core sleeps, with PRIMASK set, and disabled
 * again before PRIMASK clears: its handler never runs. A byte that arrives while the runner computes
 * (a retransmission, a duplicated byte on a noisy link) therefore cannot add instructions to a
 * measured inference.
 *
 * Built with LINK=semihost (WB_LINK_SEMIHOST), the link functions come from link_semihost.c
 * instead and the UART stays unused.
 */
#include "cm.h"
#include "wb_port.h"

#define UART_DATA CM_REG(CMSDK_UART_BASE + 0x00u)
#define UART_STATE CM_REG(CMSDK_UART_BASE + 0x04u)
#define UART_CTRL CM_REG(CMSDK_UART_BASE + 0x08u)
#define UART_INTCLEAR CM_REG(CMSDK_UART_BASE + 0x0Cu)
#define UART_BAUDDIV CM_REG(CMSDK_UART_BASE + 0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u
#define UART_CTRL_RX_IRQ_EN 0x8u
#define UART_INT_RX 0x2u

/* wb_irq<N>_handler for N = CMSDK_UART_RX_IRQ (two steps so the number is expanded first). */
#define IRQ_HANDLER_(n) wb_irq##n##_handler
#define IRQ_HANDLER(n) IRQ_HANDLER_(n)

#ifndef WB_LINK_SEMIHOST
void wb_port_init(void)
{
    UART_BAUDDIV = 16u;               /* the smallest divider the CMSDK UART accepts */
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_IRQ_EN;  /* only to wake WFI */
}

/* Never runs (the interrupt is only enabled with PRIMASK set); acknowledges it if it ever does. */
void IRQ_HANDLER(CMSDK_UART_RX_IRQ)(void)
{
    UART_INTCLEAR = UART_INT_RX;
}

/* Sleep until a byte is waiting. Interrupts are masked around the check so a byte that arrives
 * between the check and WFI still wakes it (a pending enabled interrupt ends WFI even while masked);
 * old RX events are cleared first so they cannot end WFI at once. */
void wb_port_idle(void)
{
    __asm volatile("cpsid i" ::: "memory");
    UART_INTCLEAR = UART_INT_RX;
    cm_irq_clear_pending(CMSDK_UART_RX_IRQ);
    if (!(UART_STATE & UART_STATE_RX_FULL)) {
        cm_irq_enable(CMSDK_UART_RX_IRQ);
        __asm volatile("wfi");
        cm_irq_disable(CMSDK_UART_RX_IRQ);
    }
    __asm volatile("cpsie i" ::: "memory");
}

int wb_port_getc(void)
{
    if (UART_STATE & UART_STATE_RX_FULL) {
        return (int)(UART_DATA & 0xffu);
    }
    return -1;
}

void wb_port_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (UART_STATE & UART_STATE_TX_FULL) {
        }
        UART_DATA = data[i];
    }
}

#else
void wb_port_init(void)
{
}
#endif
