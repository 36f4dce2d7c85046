/*
 * mps2-an521 port: CMSDK APB UART0 at its Secure alias 0x50200000, its RX on interrupt 33 (TX 32,
 * combined 42; routed to both cores, enabled on core 0 only) (../cortex-m/cmsdk_uart.c), SysTick at
 * the 20 MHz core clock. Core 1: core1.c.
 */
#include "wb_port.h"

#define CORE_CLOCK_HZ 20000000u

uint32_t wb_port_counter_hz(void) { return CORE_CLOCK_HZ; }
const char *wb_port_board(void) { return "mps2-an521"; }
