/*
 * Board support for QEMU's mps2-an386 (Cortex-M4F): CMSDK UART0, the FPGAIO LEDs, and SysTick as
 * the timer. QEMU models no cycles: under -icount shift=0 each instruction is 1 ns of virtual time,
 * so the timer reports virtual ticks, never silicon time.
 */
#include "board.h"

#define SYSTEM_CLOCK_HZ 25000000u

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t *)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t *)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t *)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t *)(UART0_BASE + 0x10u))
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_TX_EN 0x1u
#define UART_CTRL_RX_EN 0x2u
/* The CMSDK UART rejects divisors below 16. */
#define UART_MIN_BAUDDIV 16u

#define FPGAIO_LED (*(volatile uint32_t *)0x40028000u)
#define LED_INFERENCE 0x1u
#define LED_ERROR 0x2u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE_CPU 0x4u
#define SYSTICK_PERIOD (1u << 24)

const char board_name[] = "mps2-an386";

static volatile uint32_t systick_wraps;

void SysTick_Handler(void)
{
    systick_wraps++;
}

void board_init(uint32_t baud, board_status *status)
{
    uint32_t div = baud ? SYSTEM_CLOCK_HZ / baud : UART_MIN_BAUDDIV;
    UART_BAUDDIV = div < UART_MIN_BAUDDIV ? UART_MIN_BAUDDIV : div;
    UART_CTRL = UART_CTRL_TX_EN | UART_CTRL_RX_EN;
    FPGAIO_LED = 0;

    systick_wraps = 0;
    SYST_RVR = SYSTICK_PERIOD - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;

    status->core_clock_hz = SYSTEM_CLOCK_HZ;
    status->timer_hz = SYSTEM_CLOCK_HZ;
    status->timer_kind = BOARD_TIMER_VIRTUAL_TICKS;
    status->flags = BOARD_FLAG_EMULATED;
}

void board_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        while (UART_STATE & UART_STATE_TX_FULL) {
        }
        UART_DATA = data[i];
    }
}

int board_uart_read_byte(void)
{
    if (!(UART_STATE & UART_STATE_RX_FULL)) {
        return -1;
    }
    return (int)(UART_DATA & 0xFFu);
}

/* The divisor for baud, or 0 when the UART cannot make it within 2 %. */
static uint32_t uart_divisor(uint32_t baud)
{
    uint32_t div = baud ? SYSTEM_CLOCK_HZ / baud : 0u;
    if (div < UART_MIN_BAUDDIV) {
        return 0u;
    }
    uint32_t actual = SYSTEM_CLOCK_HZ / div;
    uint32_t error = actual > baud ? actual - baud : baud - actual;
    return error * 50u <= baud ? div : 0u;
}

int board_uart_baud_ok(uint32_t baud)
{
    return uart_divisor(baud) != 0u;
}

/* QEMU's CMSDK UART takes the divisor and ignores it: bytes move at the emulator's pace whatever the rate. */
void board_uart_set_baud(uint32_t baud)
{
    uint32_t div = uart_divisor(baud);
    if (div == 0u) {
        return;
    }
    while (UART_STATE & UART_STATE_TX_FULL) {
    }
    UART_BAUDDIV = div;
}

void board_led_inference(int on)
{
    FPGAIO_LED = on ? (FPGAIO_LED | LED_INFERENCE) : (FPGAIO_LED & ~LED_INFERENCE);
}

void board_led_error(int on)
{
    FPGAIO_LED = on ? (FPGAIO_LED | LED_ERROR) : (FPGAIO_LED & ~LED_ERROR);
}

uint64_t board_timer_read(void)
{
    uint32_t wraps;
    uint32_t count;
    /* A wrap between the two reads runs the handler, changes the count of wraps, and retries. */
    do {
        wraps = systick_wraps;
        count = SYST_CVR;
    } while (wraps != systick_wraps);
    return (uint64_t)wraps * SYSTICK_PERIOD + (SYSTICK_PERIOD - 1u - count);
}
