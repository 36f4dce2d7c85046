/*
 * Zephyr port of the device runner (wb_port.h): the same runner and protocol as the bare-metal
 * ports, on Zephyr's driver and kernel APIs.
 *
 * Serial: the UART chosen as `workbench,uart` in the devicetree (else `zephyr,console`), through the
 * interrupt-driven UART API. The interrupt moves received bytes into a ring buffer, so a frame that
 * arrives while the runner computes is kept even on UARTs with a one-byte receive register (nRF
 * UARTE in interrupt mode, CMSDK). When the ring is full the RX interrupt is switched off: the byte
 * waits in the UART (an emulator holds the rest; real hardware has the ring's worth of slack, and
 * the host sends one request at a time), and taking a byte out switches it on again. Transmit polls:
 * the runner answers one request at a time and write() must block until the bytes are out anyway.
 *
 * Cost: Zephyr's timing API (CONFIG_TIMING_FUNCTIONS), which reads the DWT cycle counter where
 * CONFIG_CORTEX_M_DWT is set (nRF52840) and the kernel's cycle counter otherwise (mps2/an386:
 * SysTick); without the timing API, the kernel's cycle counter directly (qemu_cortex_m3: QEMU models
 * no DWT, and Zephyr's timing API on a core that has one needs it). Under QEMU -icount SysTick counts
 * virtual time, not cycles.
 *
 * Stack: the main thread's stack as Zephyr knows it (CONFIG_THREAD_STACK_INFO). Before each
 * inference the free part below the caller is painted with Zephyr's own 0xaa pattern and afterwards
 * k_thread_stack_space_get() (CONFIG_INIT_STACKS) finds the high-water mark.
 */
#include <zephyr/device.h>
#include <zephyr/drivers/uart.h>
#include <zephyr/fatal.h>
#include <zephyr/kernel.h>
#include <zephyr/sys/atomic.h>
#include <zephyr/sys/byteorder.h>
#include <zephyr/sys/reboot.h>
#include <zephyr/sys/ring_buffer.h>
#include <zephyr/timing/timing.h>

#include "wb_frame.h"
#include "wb_port.h"
#include "wb_proto.h"

#if DT_HAS_CHOSEN(workbench_uart)
#define WB_UART_NODE DT_CHOSEN(workbench_uart)
#else
#define WB_UART_NODE DT_CHOSEN(zephyr_console)
#endif

#define STACK_PATTERN 0xaaaaaaaau   /* what CONFIG_INIT_STACKS writes and z_stack_space_get() looks for */
#if defined(CONFIG_STACK_SENTINEL)
#define STACK_RESERVED 4u           /* the sentinel word at the bottom: never painted, never counted */
#else
#define STACK_RESERVED 0u
#endif

static const struct device *const uart = DEVICE_DT_GET(WB_UART_NODE);
RING_BUF_DECLARE(rx_ring, CONFIG_WB_RX_RING_SIZE);
static K_SEM_DEFINE(rx_ready, 0, 1);
static atomic_t rx_paused;

static void uart_rx(const struct device *dev, void *user_data)
{
	ARG_UNUSED(user_data);
	if (!uart_irq_update(dev)) {
		return;
	}
	while (uart_irq_rx_ready(dev)) {
		uint8_t *room;
		uint32_t n = ring_buf_put_claim(&rx_ring, &room, CONFIG_WB_RX_RING_SIZE);

		if (n == 0) {
			uart_irq_rx_disable(dev);   /* back-pressure: the byte stays in the UART */
			atomic_set(&rx_paused, 1);
			break;
		}
		int got = uart_fifo_read(dev, room, (int)n);

		ring_buf_put_finish(&rx_ring, got > 0 ? (uint32_t)got : 0u);
		if (got <= 0) {
			break;
		}
	}
	k_sem_give(&rx_ready);
}

/* Switch RX interrupts on and run the handler once by hand: some UARTs (CMSDK) raise RX only when a
 * byte arrives with the interrupt enabled, and one may already be waiting (sent while we booted, or
 * held back while the ring was full); Zephyr's CMSDK driver primes its TX interrupt the same way. */
static void rx_start(void)
{
	unsigned int key = irq_lock();

	uart_irq_rx_enable(uart);
	uart_rx(uart, NULL);
	irq_unlock(key);
}

void wb_port_init(void)
{
	if (!device_is_ready(uart)) {
		k_panic();
	}
	uart_irq_callback_user_data_set(uart, uart_rx, NULL);
#if defined(CONFIG_TIMING_FUNCTIONS)
	timing_init();
	timing_start();
#endif
	rx_start();
}

int wb_port_getc(void)
{
	uint8_t c;

	if (ring_buf_get(&rx_ring, &c, 1) == 0) {
		return -1;
	}
	if (atomic_cas(&rx_paused, 1, 0)) {
		rx_start();   /* room again */
	}
	return c;
}

void wb_port_idle(void)
{
	k_sem_take(&rx_ready, K_FOREVER);
}

void wb_port_write(const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uart_poll_out(uart, data[i]);
	}
}

#if defined(CONFIG_TIMING_FUNCTIONS)
uint32_t wb_port_counter(void)
{
	return (uint32_t)timing_counter_get();   /* the 32-bit difference is what the runner reports */
}

uint32_t wb_port_counter_hz(void)
{
	return (uint32_t)timing_freq_get();
}
#else
uint32_t wb_port_counter(void)
{
	return k_cycle_get_32();
}

uint32_t wb_port_counter_hz(void)
{
	return (uint32_t)sys_clock_hw_cycles_per_sec();
}
#endif

uint8_t wb_port_counter_kind(void)
{
#if defined(CONFIG_SOC_HAS_TIMING_FUNCTIONS) && defined(CONFIG_TIMING_FUNCTIONS)
	return WB_COUNTER_OS;            /* a SoC-specific timer: say no more than that */
#elif defined(CONFIG_CORTEX_M_DWT) && defined(CONFIG_TIMING_FUNCTIONS)
	return WB_COUNTER_DWT;
#elif defined(CONFIG_CORTEX_M_SYSTICK)
	return WB_COUNTER_SYSTICK;
#else
	return WB_COUNTER_OS;
#endif
}

static inline uintptr_t current_sp(void)
{
	uintptr_t sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return sp;
}

static uintptr_t stack_bottom(void)
{
	return k_current_get()->stack_info.start + STACK_RESERVED;
}

void wb_port_stack_paint(void)
{
	/* Leave 32 bytes below our own frame: this function's pushes are not the inference's. */
	uint32_t *end = (uint32_t *)((current_sp() - 32u) & ~(uintptr_t)3u);

	for (uint32_t *p = (uint32_t *)stack_bottom(); p < end; p++) {
		*p = STACK_PATTERN;
	}
}

uintptr_t wb_port_stack_low_water(void)
{
	size_t unused;

	if (k_thread_stack_space_get(k_current_get(), &unused) != 0) {
		return 0;
	}
	return stack_bottom() + unused;
}

uintptr_t wb_port_stack_top(void)
{
	const struct k_thread *t = k_current_get();

	return t->stack_info.start + t->stack_info.size;
}

size_t wb_port_stack_size(void)
{
	return k_current_get()->stack_info.size - STACK_RESERVED;
}

#if defined(CONFIG_WB_EXIT_SEMIHOSTING)
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u
#define FAULT_EXIT_CODE 70          /* as the bare-metal ports: the host reports the fault line */

static void semihost(int op, const void *arg)
{
	register int r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

static FUNC_NORETURN void semihost_exit(int code)
{
	const uint32_t block[2] = { ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code };

	semihost(SYS_EXIT_EXTENDED, block);
	CODE_UNREACHABLE;
}

static char *put_hex(char *p, const char *label, uint32_t v)
{
	while (*label) {
		*p++ = *label++;
	}
	for (int s = 28; s >= 0; s -= 4) {
		*p++ = "0123456789abcdef"[(v >> s) & 0xfu];
	}
	return p;
}
#endif

/*
 * Faults. Zephyr's default fatal handler halts and says nothing on a board without a console, so
 * this one reports the fault to the host as a WB_RSP_FAULT frame on the protocol's own UART (every
 * build, hardware or emulator), then reboots, ready for the next session; under an emulator with
 * semihosting it also writes the bare-metal ports' WB-FAULT line and exits with code 70.
 *
 * Zephyr's fault handling clears CFSR (write-one-to-clear) before calling k_sys_fatal_error_handler,
 * so the fault status registers are captured on the way in: the link wraps z_arm_fault
 * (-Wl,--wrap=z_arm_fault, CMakeLists.txt) with a function that reads them and carries on.
 */
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define FAULT_DRAIN_US 2000u        /* the last bytes leave the UART's shift register */

#if defined(CONFIG_ARMV7_M_ARMV8_M_MAINLINE)
static uint32_t fault_status[4];    /* CFSR, HFSR, MMFAR, BFAR as the fault left them */

void __real_z_arm_fault(uint32_t msp, uint32_t psp, uint32_t exc_return, void *callee_regs);
void __wrap_z_arm_fault(uint32_t msp, uint32_t psp, uint32_t exc_return, void *callee_regs);

void __wrap_z_arm_fault(uint32_t msp, uint32_t psp, uint32_t exc_return, void *callee_regs)
{
	fault_status[0] = SCB_CFSR;
	fault_status[1] = SCB_HFSR;
	fault_status[2] = SCB_MMFAR;
	fault_status[3] = SCB_BFAR;
	__real_z_arm_fault(msp, psp, exc_return, callee_regs);
}
#endif

static void send_fault_frame(const uint32_t words[WB_FAULT_WORDS])
{
	uint8_t payload[4u * WB_FAULT_WORDS];
	uint8_t frame[WB_FAULT_WORDS * 4u + WB_FRAME_HEADER + WB_FRAME_CRC + 4u];
	const uint8_t delimiter = 0;

	for (size_t i = 0; i < WB_FAULT_WORDS; i++) {
		sys_put_le32(words[i], &payload[4u * i]);
	}
	size_t n = wb_frame_encode(WB_RSP_FAULT, 0, payload, sizeof payload, frame, sizeof frame);

	wb_port_write(&delimiter, 1);   /* whatever was half sent, this frame starts clean */
	wb_port_write(frame, n);
}

void k_sys_fatal_error_handler(unsigned int reason, const struct arch_esf *esf)
{
	uint32_t w[WB_FAULT_WORDS] = { 0 };
	uint32_t exc = SCB_ICSR & 0x1ffu;   /* the exception being handled (VECTACTIVE) */

	w[0] = exc;
	if (esf != NULL) {
		w[1] = esf->basic.pc;
		w[2] = esf->basic.lr;
	}
#if defined(CONFIG_ARMV7_M_ARMV8_M_MAINLINE)
	if (exc >= 3u && exc <= 6u) {       /* HardFault, MemManage, BusFault, UsageFault */
		for (size_t i = 0; i < 4; i++) {
			w[3 + i] = fault_status[i];
		}
	}
#endif
	w[7] = reason;
	send_fault_frame(w);
#if defined(CONFIG_WB_EXIT_SEMIHOSTING)
	char line[160];
	char *p = put_hex(line, "WB-FAULT exc=", w[0]);

	p = put_hex(p, " pc=", w[1]);
	p = put_hex(p, " lr=", w[2]);
	p = put_hex(p, " cfsr=", w[3]);
	p = put_hex(p, " hfsr=", w[4]);
	p = put_hex(p, " mmfar=", w[5]);
	p = put_hex(p, " bfar=", w[6]);
	p = put_hex(p, " zephyr_reason=", reason);
	*p++ = '\n';
	*p = '\0';
	semihost(SYS_WRITE0, line);
	semihost_exit(FAULT_EXIT_CODE);
#else
	k_busy_wait(FAULT_DRAIN_US);
	sys_reboot(SYS_REBOOT_COLD);
#endif
}

void wb_port_exit(int code)
{
#if defined(CONFIG_WB_EXIT_SEMIHOSTING)
	semihost_exit(code);
#else
	ARG_UNUSED(code);
	k_msleep(20);                    /* let the acknowledgement leave the UART */
	sys_reboot(SYS_REBOOT_COLD);     /* ready for the next session */
#endif
}

const char *wb_port_board(void)
{
	return CONFIG_BOARD_TARGET;
}

uint32_t wb_port_caps(void)
{
	uint32_t caps = WB_CAP_EXIT | WB_CAP_STACK_PAINT;

#if defined(CONFIG_FPU)
	caps |= WB_CAP_FPU;
#endif
	return caps;
}
