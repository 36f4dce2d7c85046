/*
 * mps2-an386 port: CMSDK APB UART0 at 0x40004000 (polled), SysTick at the 25 MHz core clock.
 * QEMU's UART model keeps an incoming byte waiting until RX is read, so polling loses nothing.
 */
#include "cm.h"
#include "wb_port.h"

#define UART0_BASE 0x40004000u
#define UART_DATA CM_REG(UART0_BASE + 0x00u)
#define UART_STATE CM_REG(UART0_BASE + 0x04u)
#define UART_CTRL CM_REG(UART0_BASE + 0x08u)
#define UART_BAUDDIV CM_REG(UART0_BASE + 0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u

#define CORE_CLOCK_HZ 25000000u

void wb_port_init(void)
{
    UART_BAUDDIV = 16u;               /* the smallest divider the CMSDK UART accepts */
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
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

uint32_t wb_port_counter_hz(void) { return CORE_CLOCK_HZ; }
const char *wb_port_board(void) { return "mps2-an386"; }
