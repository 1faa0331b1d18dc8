/* The framed link's byte stream over the board's UART. */
#include "board.h"
#include "link_io.h"

uint32_t link_read(uint8_t *dst, uint32_t max)
{
    uint32_t n = 0;
    int c;
    while (n < max && (c = board_uart_read_byte()) >= 0) {
        dst[n++] = (uint8_t)c;
    }
    return n;
}

void link_write(const uint8_t *data, uint32_t n)
{
    board_uart_write(data, n);
}

void link_flush(void)
{
    /* board_uart_write returns once the bytes are in the UART: nothing is held back. */
}

int link_baud_ok(uint32_t baud)
{
    return board_uart_baud_ok(baud);
}

void link_set_baud(uint32_t baud)
{
    board_uart_set_baud(baud);
}

uint32_t link_buffer_bytes(void)
{
    return 0u;
}
