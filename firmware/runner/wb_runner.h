/*
 * wb_runner.h - the device runner as two calls, for ports that own their main loop (and for the
 * host-side fuzz harness). The runner's own main() (built unless WB_RUNNER_NO_MAIN) is:
 *
 *     wb_port_init(); wb_runner_init();
 *     for (;;) { int c = wb_port_getc(); if (c < 0) wb_port_idle(); else wb_runner_feed((uint8_t)c); }
 */
#ifndef WB_RUNNER_H
#define WB_RUNNER_H

#include <stdint.h>

void wb_runner_init(void);
/* One received byte; a complete frame is answered (through wb_port_write) before this returns. */
void wb_runner_feed(uint8_t c);

#endif /* WB_RUNNER_H */
