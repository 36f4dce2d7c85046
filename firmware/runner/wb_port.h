/*
 * wb_port.h - what a port (bare metal, Zephyr, host) provides to the device runner.
 * The runner is written once against this interface; a port is a few dozen lines.
 */
#ifndef WB_PORT_H
#define WB_PORT_H

#include <stddef.h>
#include <stdint.h>

void wb_port_init(void);

/* Serial link. getc returns the next received byte or -1 when none is waiting; write blocks until
 * every byte is handed to the hardware. idle is called when nothing is waiting (may sleep). */
int wb_port_getc(void);
void wb_port_write(const uint8_t *data, size_t len);
void wb_port_idle(void);

/* A free-running 32-bit counter, what it counts (WB_COUNTER_*) and its rate in Hz. */
uint32_t wb_port_counter(void);
uint8_t wb_port_counter_kind(void);
uint32_t wb_port_counter_hz(void);

/* Stack measurement by painting: paint fills the free stack below the caller with a pattern;
 * low_water is the lowest address overwritten since (0 when the port cannot paint). */
void wb_port_stack_paint(void);
uintptr_t wb_port_stack_low_water(void);
uintptr_t wb_port_stack_top(void);
size_t wb_port_stack_size(void);

/* Stop: emulators exit with code (semihosting), hardware resets or parks. */
void wb_port_exit(int code);

/* Second core (ports with two, built with CORES=2; used by wb_parallel.c). core1_start runs main1
 * on core 1 (its own stack, FPU enabled). event_send wakes a core waiting in event_wait (DSB + SEV /
 * WFE), for short waits within a window; core1_wake (core 0) wakes core 1 from core1_sleep (core 1),
 * its idle wait between windows. Both waits may return for no reason: wait in a loop that checks.
 * Core 1's stack is painted and measured like core 0's (paint: from below core 1's caller). */
void wb_port_core1_start(void (*main1)(void));
void wb_port_core1_wake(void);
void wb_port_core1_sleep(void);
void wb_port_event_send(void);
void wb_port_event_wait(void);
void wb_port_core1_stack_paint(void);
uintptr_t wb_port_core1_stack_low_water(void);
uintptr_t wb_port_core1_stack_top(void);
size_t wb_port_core1_stack_size(void);

/* Board name for the handshake, capability bits this port adds (WB_CAP_*). */
const char *wb_port_board(void);
uint32_t wb_port_caps(void);

#endif /* WB_PORT_H */
