/*
 * Board support for the NUCLEO-F439ZI (STM32F439ZI, Cortex-M4F), register level.
 * Clock: 168 MHz from the ST-LINK's 8 MHz MCO (HSE bypass) through the PLL; when that does not
 * come up, the 16 MHz HSI and BOARD_FLAG_CLOCK_FALLBACK. Host link: USART3 on PD8/PD9, the
 * ST-LINK virtual COM port. LEDs: LD1 green PB0 (main clock OK), LD2 blue PB7 (inference),
 * LD3 red PB14 (error). Timer: DWT CYCCNT, extended to 64 bits by a SysTick interrupt.
 */
#include "board.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))

#define HSI_HZ 16000000u
#define PLL_SYSCLK_HZ 168000000u
#define PLL_APB1_HZ (PLL_SYSCLK_HZ / 4u)

/* Polls of a ready bit before giving up. No timer runs yet, so the bound is a loop count: at
 * 16 MHz and at least 4 cycles per iteration this is >= 100 ms, the HSE start-up time ST's HAL
 * allows; PLL lock and the clock switch take microseconds. */
#define CLOCK_POLL_LIMIT 400000u

#define RCC_BASE 0x40023800u
#define RCC_CR REG32(RCC_BASE + 0x00u)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x04u)
#define RCC_CFGR REG32(RCC_BASE + 0x08u)
#define RCC_AHB1ENR REG32(RCC_BASE + 0x30u)
#define RCC_APB1ENR REG32(RCC_BASE + 0x40u)
#define RCC_CR_HSEON (1u << 16)
#define RCC_CR_HSERDY (1u << 17)
#define RCC_CR_HSEBYP (1u << 18)
#define RCC_CR_PLLON (1u << 24)
#define RCC_CR_PLLRDY (1u << 25)
/* 8 MHz / M=4 = 2 MHz PLL input (the reference manual recommends 2 MHz to limit jitter),
 * x N=168 = 336 MHz VCO, / P=2 = 168 MHz SYSCLK, / Q=7 = 48 MHz. */
#define PLL_M 4u
#define PLL_N 168u
#define PLL_P 2u
#define PLL_Q 7u
#define RCC_PLLCFGR_M_POS 0
#define RCC_PLLCFGR_N_POS 6
#define RCC_PLLCFGR_P_POS 16 /* encoded as P/2 - 1 */
#define RCC_PLLCFGR_SRC_HSE (1u << 22)
#define RCC_PLLCFGR_Q_POS 24
#define RCC_PLLCFGR_FIELDS (0x3Fu | (0x1FFu << 6) | (0x3u << 16) | (1u << 22) | (0xFu << 24))
#define RCC_CFGR_SW_MASK 0x3u
#define RCC_CFGR_SW_HSI 0x0u
#define RCC_CFGR_SW_PLL 0x2u
#define RCC_CFGR_SWS_MASK (0x3u << 2)
#define RCC_CFGR_SWS_HSI (0x0u << 2)
#define RCC_CFGR_SWS_PLL (0x2u << 2)
#define RCC_CFGR_HPRE_MASK (0xFu << 4)     /* 0: AHB = SYSCLK */
#define RCC_CFGR_PPRE1_MASK (0x7u << 10)   /* 0: APB1 = AHB */
#define RCC_CFGR_PPRE1_DIV4 (0x5u << 10)   /* APB1 at most 42 MHz */
#define RCC_CFGR_PPRE2_MASK (0x7u << 13)   /* 0: APB2 = AHB */
#define RCC_CFGR_PPRE2_DIV2 (0x4u << 13)   /* APB2 at most 84 MHz */
#define RCC_CFGR_BUS_DIVIDERS (RCC_CFGR_HPRE_MASK | RCC_CFGR_PPRE1_MASK | RCC_CFGR_PPRE2_MASK)
#define RCC_AHB1ENR_GPIOBEN (1u << 1)
#define RCC_AHB1ENR_GPIODEN (1u << 3)
#define RCC_APB1ENR_USART3EN (1u << 18)
#define RCC_APB1ENR_PWREN (1u << 28)

#define PWR_BASE 0x40007000u
#define PWR_CR REG32(PWR_BASE + 0x00u)
#define PWR_CSR REG32(PWR_BASE + 0x04u)
#define PWR_CR_VOS_MASK (0x3u << 14)
#define PWR_CR_VOS_SCALE1 (0x3u << 14) /* needed above 144 MHz */
#define PWR_CSR_VOSRDY (1u << 14)

#define FLASH_ACR REG32(0x40023C00u)
#define FLASH_ACR_LATENCY_MASK 0xFu
#define FLASH_ACR_LATENCY_168MHZ 5u /* 150..180 MHz at 2.7..3.6 V */
#define FLASH_ACR_LATENCY_HSI 0u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)
#define FLASH_ACR_ACCELERATORS (FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN)

#define GPIOB_BASE 0x40020400u
#define GPIOD_BASE 0x40020C00u
#define GPIO_MODER(port) REG32((port) + 0x00u)
#define GPIO_OTYPER(port) REG32((port) + 0x04u)
#define GPIO_PUPDR(port) REG32((port) + 0x0Cu)
#define GPIO_BSRR(port) REG32((port) + 0x18u)
#define GPIO_AFR(port, pin) REG32((port) + 0x20u + 4u * ((pin) / 8u))
#define GPIO_MODE_OUTPUT 0x1u
#define GPIO_MODE_AF 0x2u
#define GPIO_PULL_UP 0x1u
#define GPIO_BSRR_SET(pin) (1u << (pin))
#define GPIO_BSRR_RESET(pin) (1u << ((pin) + 16u))

#define LED_CLOCK_OK_PIN 0u   /* LD1 green */
#define LED_INFERENCE_PIN 7u  /* LD2 blue */
#define LED_ERROR_PIN 14u     /* LD3 red */
#define UART_TX_PIN 8u        /* PD8 */
#define UART_RX_PIN 9u        /* PD9 */
#define UART_AF_USART3 7u

#define USART3_BASE 0x40004800u
#define USART3_SR REG32(USART3_BASE + 0x00u)
#define USART3_DR REG32(USART3_BASE + 0x04u)
#define USART3_BRR REG32(USART3_BASE + 0x08u)
#define USART3_CR1 REG32(USART3_BASE + 0x0Cu)
#define USART_SR_ORE (1u << 3)
#define USART_SR_RXNE (1u << 5)
#define USART_SR_TC (1u << 6)
#define USART_SR_TXE (1u << 7)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_UE (1u << 13)
/* With 16x oversampling BRR holds f_APB1 / baud in 12.4 fixed point, i.e. the plain quotient. */
#define USART_BRR_MIN 16u
#define USART_BRR_MAX 0xFFFFu
#define UART_DEFAULT_BAUD 115200u

#define DEMCR REG32(0xE000EDFCu)
#define DEMCR_TRCENA (1u << 24)
#define DWT_CTRL REG32(0xE0001000u)
#define DWT_CYCCNT REG32(0xE0001004u)
#define DWT_CTRL_CYCCNTENA 0x1u

#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE_CPU 0x4u
/* SysTick and CYCCNT both count core cycles, so at any clock the handler runs 256 times per
 * CYCCNT wrap (2^32 / 2^24): a wrap can never go unseen unless interrupts stay masked ~25 s. */
#define SYSTICK_PERIOD (1u << 24)

const char board_name[] = "nucleo-f439zi";

/* CYCCNT as of the last update, and the count of its wraps: the upper 32 bits of the timer. */
static volatile uint32_t cycles_last;
static volatile uint32_t cycles_high;

static uint32_t irq_save(void)
{
    uint32_t primask;
    __asm__ volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

static void irq_restore(uint32_t primask)
{
    __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
}

static int wait_for(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    for (uint32_t n = CLOCK_POLL_LIMIT; n != 0u; --n) {
        if ((*reg & mask) == value) {
            return 1;
        }
    }
    return 0;
}

/* Returns 1 once SYSCLK runs from the HSE PLL at 168 MHz, 0 at the first step that fails. */
static int clock_start_pll(void)
{
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR; /* the read-back gives the enable time to take before PWR is written */
    /* Takes effect when the PLL starts; VOSRDY says when. */
    PWR_CR = (PWR_CR & ~PWR_CR_VOS_MASK) | PWR_CR_VOS_SCALE1;

    /* Bypass must be chosen while the HSE is still off. */
    RCC_CR |= RCC_CR_HSEBYP;
    RCC_CR |= RCC_CR_HSEON;
    if (!wait_for(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        return 0;
    }

    RCC_PLLCFGR = (RCC_PLLCFGR & ~RCC_PLLCFGR_FIELDS) | (PLL_M << RCC_PLLCFGR_M_POS) |
                  (PLL_N << RCC_PLLCFGR_N_POS) | ((PLL_P / 2u - 1u) << RCC_PLLCFGR_P_POS) |
                  RCC_PLLCFGR_SRC_HSE | (PLL_Q << RCC_PLLCFGR_Q_POS);
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_for(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY) ||
        !wait_for(&PWR_CSR, PWR_CSR_VOSRDY, PWR_CSR_VOSRDY)) {
        return 0;
    }

    /* Flash must be slow enough before the core gets fast; the read-back confirms it took. */
    FLASH_ACR = FLASH_ACR_LATENCY_168MHZ | FLASH_ACR_ACCELERATORS;
    if ((FLASH_ACR & FLASH_ACR_LATENCY_MASK) != FLASH_ACR_LATENCY_168MHZ) {
        return 0;
    }

    /* Bus dividers first, so no APB bus ever runs above its limit. */
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_BUS_DIVIDERS) | RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2;
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    return wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
}

/*
 * Back to the HSI (on since reset), all buses /1, PLL and HSE off. No PLL from the HSI: the
 * fallback must be the path that cannot fail, and a run on it is flagged and not comparable
 * anyway, so 168 MHz would buy nothing but another lock to wait for.
 */
static void clock_fall_back_to_hsi(void)
{
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_HSI;
    /* Faster buses and fewer wait states only once the core is surely slow. The HSI is on
     * since reset, so this switch does not fail in practice. */
    if (wait_for(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_HSI)) {
        RCC_CFGR &= ~RCC_CFGR_BUS_DIVIDERS;
        FLASH_ACR = FLASH_ACR_LATENCY_HSI | FLASH_ACR_ACCELERATORS;
    }
    RCC_CR &= ~(RCC_CR_PLLON | RCC_CR_HSEON);
}

static void gpio_set_mode(uint32_t port, uint32_t pin, uint32_t mode)
{
    GPIO_MODER(port) = (GPIO_MODER(port) & ~(0x3u << (2u * pin))) | (mode << (2u * pin));
}

static void gpio_set_af(uint32_t port, uint32_t pin, uint32_t af)
{
    uint32_t shift = 4u * (pin % 8u);
    GPIO_AFR(port, pin) = (GPIO_AFR(port, pin) & ~(0xFu << shift)) | (af << shift);
    gpio_set_mode(port, pin, GPIO_MODE_AF);
}

static void leds_init(void)
{
    /* Latch the outputs low before they drive, so no LED flashes at start. */
    GPIO_BSRR(GPIOB_BASE) = GPIO_BSRR_RESET(LED_CLOCK_OK_PIN) | GPIO_BSRR_RESET(LED_INFERENCE_PIN) |
                            GPIO_BSRR_RESET(LED_ERROR_PIN);
    GPIO_OTYPER(GPIOB_BASE) &= ~((1u << LED_CLOCK_OK_PIN) | (1u << LED_INFERENCE_PIN) |
                                 (1u << LED_ERROR_PIN));
    gpio_set_mode(GPIOB_BASE, LED_CLOCK_OK_PIN, GPIO_MODE_OUTPUT);
    gpio_set_mode(GPIOB_BASE, LED_INFERENCE_PIN, GPIO_MODE_OUTPUT);
    gpio_set_mode(GPIOB_BASE, LED_ERROR_PIN, GPIO_MODE_OUTPUT);
}

/* USART3's kernel clock (APB1), for rate changes after board_init. */
static uint32_t uart_clock_hz;

static void uart_init(uint32_t apb1_hz, uint32_t baud)
{
    uart_clock_hz = apb1_hz;
    if (baud == 0u) {
        baud = UART_DEFAULT_BAUD;
    }
    uint32_t brr = (apb1_hz + baud / 2u) / baud;
    if (brr < USART_BRR_MIN) {
        brr = USART_BRR_MIN;
    } else if (brr > USART_BRR_MAX) {
        brr = USART_BRR_MAX;
    }
    USART3_CR1 = 0; /* BRR is written with the USART disabled */
    USART3_BRR = brr;
    USART3_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;

    /* Pins last: TX goes straight to the idle-high line of an enabled transmitter, with no glitch
     * the host could take for a start bit. The pull-up keeps RX idle if the ST-LINK side is
     * unpowered or cut off by its solder bridges. */
    GPIO_PUPDR(GPIOD_BASE) = (GPIO_PUPDR(GPIOD_BASE) & ~(0x3u << (2u * UART_RX_PIN))) |
                             (GPIO_PULL_UP << (2u * UART_RX_PIN));
    gpio_set_af(GPIOD_BASE, UART_TX_PIN, UART_AF_USART3);
    gpio_set_af(GPIOD_BASE, UART_RX_PIN, UART_AF_USART3);
}

void SysTick_Handler(void)
{
    /* Masked so that a reader in a higher-priority handler never sees high and last half-updated. */
    uint32_t primask = irq_save();
    uint32_t now = DWT_CYCCNT;
    if (now < cycles_last) {
        cycles_high++;
    }
    cycles_last = now;
    irq_restore(primask);
}

static void timer_init(void)
{
    /* The Cortex-M4's DWT has no software lock (the LAR write is a Cortex-M7 matter). */
    DEMCR |= DEMCR_TRCENA;
    DWT_CYCCNT = 0;
    cycles_last = 0;
    cycles_high = 0;
    DWT_CTRL |= DWT_CTRL_CYCCNTENA;

    SYST_RVR = SYSTICK_PERIOD - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;
}

void board_init(uint32_t baud, board_status *status)
{
    int pll_ok = clock_start_pll();
    if (!pll_ok) {
        clock_fall_back_to_hsi();
    }
    uint32_t core_hz = pll_ok ? PLL_SYSCLK_HZ : HSI_HZ;
    uint32_t apb1_hz = pll_ok ? PLL_APB1_HZ : HSI_HZ;

    /* |= keeps CCMDATARAMEN, on since reset: the stack lives in CCM. */
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOBEN | RCC_AHB1ENR_GPIODEN;
    RCC_APB1ENR |= RCC_APB1ENR_USART3EN;
    (void)RCC_APB1ENR; /* the read-back gives the enables time to take before GPIO/USART writes */
    leds_init();
    uart_init(apb1_hz, baud);
    if (pll_ok) {
        GPIO_BSRR(GPIOB_BASE) = GPIO_BSRR_SET(LED_CLOCK_OK_PIN);
    }
    timer_init();

    status->core_clock_hz = core_hz;
    status->timer_hz = core_hz;
    status->timer_kind = BOARD_TIMER_CORE_CYCLES;
    status->flags = pll_ok ? 0u : BOARD_FLAG_CLOCK_FALLBACK;
}

/*
 * The TXE poll is not bounded: TXE is set at reset and, with UE and TE set, sets again within one
 * frame time. Only a gated USART clock could hold it clear, and dropping bytes then would hide
 * that bug behind a corrupt protocol stream.
 */
void board_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        while (!(USART3_SR & USART_SR_TXE)) {
        }
        USART3_DR = data[i];
    }
}

int board_uart_read_byte(void)
{
    uint32_t sr = USART3_SR;
    if (!(sr & (USART_SR_RXNE | USART_SR_ORE))) {
        return -1;
    }
    /* Reading DR after SR clears RXNE and ORE (and FE/NF/PE), so an overrun never locks RX.
     * With ORE but no RXNE, DR is stale: drain it and report nothing. */
    uint32_t data = USART3_DR;
    return (sr & USART_SR_RXNE) ? (int)(data & 0xFFu) : -1;
}

/* The BRR value for baud, or 0 when it is out of range or misses baud by more than 2 %. */
static uint32_t uart_divisor(uint32_t baud)
{
    uint32_t brr = baud ? (uart_clock_hz + baud / 2u) / baud : 0u;
    if (brr < USART_BRR_MIN || brr > USART_BRR_MAX) {
        return 0u;
    }
    uint32_t actual = uart_clock_hz / brr;
    uint32_t error = actual > baud ? actual - baud : baud - actual;
    return error * 50u <= baud ? brr : 0u;
}

int board_uart_baud_ok(uint32_t baud)
{
    return uart_divisor(baud) != 0u;
}

/* TC (the last stop bit has left) is waited for unbounded for the same reason as TXE in board_uart_write. */
void board_uart_set_baud(uint32_t baud)
{
    uint32_t brr = uart_divisor(baud);
    if (brr == 0u) {
        return;
    }
    while (!(USART3_SR & USART_SR_TC)) {
    }
    USART3_CR1 = 0; /* BRR is written with the USART disabled */
    USART3_BRR = brr;
    USART3_CR1 = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE;
}

void board_led_inference(int on)
{
    GPIO_BSRR(GPIOB_BASE) = on ? GPIO_BSRR_SET(LED_INFERENCE_PIN) : GPIO_BSRR_RESET(LED_INFERENCE_PIN);
}

void board_led_error(int on)
{
    GPIO_BSRR(GPIOB_BASE) = on ? GPIO_BSRR_SET(LED_ERROR_PIN) : GPIO_BSRR_RESET(LED_ERROR_PIN);
}

/*
 * Race-free by masking interrupts for the three reads: the handler cannot update (high, last)
 * in between, and a wrap it has not yet seen shows as now < last. At most one such wrap can be
 * pending (see SYSTICK_PERIOD), so adding one to high is exact and the result is monotonic.
 */
uint64_t board_timer_read(void)
{
    uint32_t primask = irq_save();
    uint32_t now = DWT_CYCCNT;
    uint32_t high = cycles_high;
    if (now < cycles_last) {
        high++;
    }
    irq_restore(primask);
    return ((uint64_t)high << 32) | now;
}
