/*
 * netduinoplus2 port (QEMU's STM32F405 machine): USART1 at 0x40011000, SysTick at the 168 MHz core
 * clock.
 *
 * QEMU's USART model drops bytes that arrive while the USART is disabled (the host retransmits a
 * HELLO that came too early); once it is enabled a byte waits in the host socket until RXNE is
 * clear, so polling DR loses nothing. As on mps2-an386 the RX interrupt only wakes the core from WFI:
 * it is enabled in the NVIC only while the core sleeps with PRIMASK set and disabled before PRIMASK
 * clears, so its handler never runs (if it did, startup.c's default handler would report a fault)
 * and a byte that arrives during an inference adds no instructions to it. (QEMU 7.2 lowers this USART's interrupt line only when DR is read, so the pending bit is
 * cleared before sleeping, while RXNE is known to be clear.)
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

void wb_port_init(void)
{
    RCC_APB2ENR |= RCC_APB2ENR_USART1EN;
    USART_BRR = (APB2_CLOCK_HZ + BAUD / 2u) / BAUD;   /* 16x oversampling: mantissa.fraction in one */
    USART_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;   /* RXNEIE: only to wake WFI */
}

/* Sleep until a byte is waiting. Interrupts are masked around the check so a byte that arrives
 * between the check and WFI still wakes it (a pending enabled interrupt ends WFI even while masked). */
void wb_port_idle(void)
{
    __asm volatile("cpsid i" ::: "memory");
    if (!(USART_SR & USART_SR_RXNE)) {
        cm_irq_clear_pending(USART1_IRQ);     /* RXNE clear: the line is low, an old pending bit goes */
        cm_irq_enable(USART1_IRQ);
        __asm volatile("wfi");
        cm_irq_disable(USART1_IRQ);
    }
    __asm volatile("cpsie i" ::: "memory");
}

int wb_port_getc(void)
{
    if (USART_SR & USART_SR_RXNE) {
        return (int)(USART_DR & 0xffu);
    }
    return -1;
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
