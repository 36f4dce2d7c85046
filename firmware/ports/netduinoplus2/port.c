/*
 * netduinoplus2 port (QEMU's STM32F405 machine): USART1 at 0x40011000, SysTick at the 168 MHz core
 * clock.
 *
 * QEMU's USART model drops bytes that arrive while the USART is disabled, so it is enabled first
 * thing. The RX interrupt moves bytes into a ring; QEMU 7.2 lowers the USART's interrupt line only
 * when DR is read, so back-pressure is applied at the NVIC: a full ring masks the interrupt, the
 * next byte stays in DR (QEMU then holds the rest in its socket; real hardware would overrun only if
 * a whole ring arrived while the runner computes, which lock-step requests never do), and taking a
 * byte out of the ring unmasks it again.
 */
#include "cm.h"
#include "wb_port.h"

#define RCC_APB2ENR CM_REG(0x40023844u)
#define RCC_APB2ENR_USART1EN (1u << 4)

#define USART1_BASE 0x40011000u
#define USART_SR CM_REG(USART1_BASE + 0x00u)
#define USART_DR CM_REG(USART1_BASE + 0x04u)
#define USART_BRR CM_REG(USART1_BASE + 0x08u)
#define USART_CR1 CM_REG(USART1_BASE + 0x0Cu)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_UE (1u << 13)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RE (1u << 2)
#define USART1_IRQ 37u

#define CORE_CLOCK_HZ 168000000u
#define APB2_CLOCK_HZ (CORE_CLOCK_HZ / 2u)
#define BAUD 115200u
#define RX_RING_SIZE 256u

static uint8_t rx_ring[RX_RING_SIZE];
static volatile uint32_t rx_head;   /* written by the interrupt */
static volatile uint32_t rx_tail;   /* written by the runner */

void wb_port_init(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART_BRR = (APB2_CLOCK_HZ + BAUD / 2u) / BAUD;   /* 16x oversampling: mantissa.fraction in one */
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    cm_irq_enable(USART1_IRQ);
}

void wb_irq37_handler(void)
{
    while ((USART_SR & USART_SR_RXNE) && rx_head - rx_tail < RX_RING_SIZE) {
        rx_ring[rx_head % RX_RING_SIZE] = (uint8_t)USART_DR;
        rx_head++;
    }
    if (rx_head - rx_tail == RX_RING_SIZE) {
        cm_irq_disable(USART1_IRQ);
    }
}

/* Sleep until a byte is waiting. Interrupts are masked around the check so a byte that arrives
 * between the check and WFI still wakes it (a pending interrupt ends WFI even while masked). */
void wb_port_idle(void)
{
    __asm volatile("cpsid i" ::: "memory");
    if (rx_head == rx_tail) {
        __asm volatile("wfi");
    }
    __asm volatile("cpsie i" ::: "memory");
}

int wb_port_getc(void)
{
    if (rx_head == rx_tail) {
        return -1;
    }
    int c = rx_ring[rx_tail % RX_RING_SIZE];
    rx_tail++;
    cm_irq_enable(USART1_IRQ);          /* there is room again (idempotent when never masked) */
    return c;
}

void wb_port_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (!(USART_SR & USART_SR_TXE)) {
        }
        USART_DR = data[i];
    }
}

uint32_t wb_port_counter_hz(void) { return CORE_CLOCK_HZ; }
const char *wb_port_board(void) { return "netduinoplus2"; }
