/*
 * mps2-an386 port: CMSDK APB UART0 at 0x40004000, its RX on interrupt 0 (../cortex-m/cmsdk_uart.c),
 * SysTick at the 25 MHz core clock.
 */
#include "wb_port.h"

#define CORE_CLOCK_HZ 25000000u

uint32_t wb_port_counter_hz(void) { return CORE_CLOCK_HZ; }
const char *wb_port_board(void) { return "mps2-an386"; }
