/*
 * The board support interface: everything the application needs from a board.
 * Each board folder under boards/ implements it in board.c, beside its linker script; the startup
 * code is shared (firmware/runtime/startup_cortex_m4.c).
 * The application never touches a peripheral register itself.
 */
#ifndef HIL_BOARD_H
#define HIL_BOARD_H

#include <stdint.h>

/* What a board's timer counts; reported to the host so it never mistakes one for another. */
typedef enum {
    BOARD_TIMER_CORE_CYCLES = 0,   /* silicon: DWT CYCCNT at the core clock */
    BOARD_TIMER_VIRTUAL_TICKS = 1  /* emulator: virtual time under -icount, not silicon time */
} board_timer_kind;

/* Bits of board_status.flags, set by board_init. */
#define BOARD_FLAG_CLOCK_FALLBACK 0x1u /* the main clock did not come up: running on the internal RC */
#define BOARD_FLAG_EMULATED 0x2u       /* built for an emulator stand-in */

typedef struct {
    uint32_t core_clock_hz;  /* the clock the core actually runs at after board_init */
    uint32_t timer_hz;       /* ticks per second of board_timer_read */
    board_timer_kind timer_kind;
    uint32_t flags;          /* BOARD_FLAG_* */
} board_status;

/* Clocks, FPU already on (startup), UART at baud, LEDs off, timer running. Never blocks unboundedly. */
void board_init(uint32_t baud, board_status *status);

/* Blocking write of n bytes to the host UART. */
void board_uart_write(const uint8_t *data, uint32_t n);

/* One received byte (0..255), or -1 when none is waiting. Never blocks. */
int board_uart_read_byte(void);

/* Whether the UART can run at baud, within 2 % of it. */
int board_uart_baud_ok(uint32_t baud);

/* Moves the UART to baud (one board_uart_baud_ok accepts) once every byte written so far has left. */
void board_uart_set_baud(uint32_t baud);

/* The LED that is lit exactly while inference runs. */
void board_led_inference(int on);

/* The LED that signals a fault (hard fault, protocol error latch). */
void board_led_error(int on);

/* A free-running 64-bit monotonic timer, board_status.timer_hz ticks per second. */
uint64_t board_timer_read(void);

/* Board name, as in boards/<name>/board.toml. */
extern const char board_name[];

#endif
